using System.Net;
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
        (await GetGatewayEndpointsAsync(CancellationToken.None)).Select(endpoint => SiloAddress.New(endpoint, 0).ToGatewayUri()).ToList();

    /// <summary>The same gateways as endpoints, for a caller that probes them itself and bounds the read (the CLI).</summary>
    public Task<IReadOnlyList<IPEndPoint>> GetGatewayEndpointsAsync(CancellationToken cancellation) =>
        PostgresMembershipTable.ReadActiveGatewaysAsync(dataSource, clusterOptions.Value.ClusterId, cancellation);
}
