using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using Orleans.Messaging;

namespace PunkGrid.Clustering;

/// <summary>
/// Orleans' gateway list for clients, read from the membership table the silos keep (<see cref="PostgresMembershipTable"/>
/// owns its schema and the query): the gateways of the Active silos, most recently alive first.
/// </summary>
public sealed class PostgresGatewayListProvider(NpgsqlDataSource dataSource, IOptions<ClusterOptions> clusterOptions, IOptions<GatewayOptions> gatewayOptions)
    : IGatewayListProvider
{
    public TimeSpan MaxStaleness => gatewayOptions.Value.GatewayListRefreshPeriod;

    public bool IsUpdatable => true;

    public Task InitializeGatewayListProvider() => Task.CompletedTask;

    public async Task<IList<Uri>> GetGateways() =>
        (await PostgresMembershipTable.ReadActiveGatewaysAsync(dataSource, clusterOptions.Value.ClusterId, CancellationToken.None))
            .Select(endpoint => SiloAddress.New(endpoint, 0).ToGatewayUri())
            .ToList();
}
