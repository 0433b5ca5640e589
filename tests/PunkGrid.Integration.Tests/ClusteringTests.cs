using System.Net;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using PunkGrid.Clustering;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// The clustering library on a real server: what the silos write through the membership table is what clients read
/// through the gateway list provider, with no second copy of the schema.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ClusteringTests(PostgresServer server) : IAsyncLifetime
{
    private MigratedDatabase database = null!;

    public async Task InitializeAsync() => database = await MigratedDatabase.CreateAsync(server, "clustering");

    public async Task DisposeAsync() => await database.DisposeAsync();

    private static MembershipEntry Member(int port, int proxyPort, SiloStatus status, DateTime alive) => new()
    {
        SiloAddress = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, port), 1),
        SiloName = $"silo-{port}",
        HostName = "host",
        Status = status,
        ProxyPort = proxyPort,
        StartTime = alive.AddMinutes(-1),
        IAmAliveTime = alive,
    };

    [Fact]
    public async Task Clients_get_the_gateways_of_the_active_silos_most_recently_alive_first()
    {
        var cluster = Options.Create(new ClusterOptions { ClusterId = "gateways" });
        var table = new PostgresMembershipTable(database.DataSource, cluster);
        await table.InitializeMembershipTable(true);
        var now = DateTime.UtcNow;
        var members = new[]
        {
            Member(11111, 30000, SiloStatus.Active, now.AddSeconds(-20)),
            Member(11112, 30001, SiloStatus.Active, now),
            Member(11113, 30002, SiloStatus.Dead, now),        // dead: not a gateway
            Member(11114, 0, SiloStatus.Active, now),          // no gateway port
            Member(11115, 30004, SiloStatus.Joining, now),     // not active yet
        };
        foreach (var member in members)
        {
            var version = (await table.ReadAll()).Version;
            Assert.True(await table.InsertRow(member, version.Next()));
        }
        // Another cluster's silos in the same tables are not this cluster's gateways.
        var other = new PostgresMembershipTable(database.DataSource, Options.Create(new ClusterOptions { ClusterId = "other" }));
        await other.InitializeMembershipTable(true);
        Assert.True(await other.InsertRow(Member(11116, 30005, SiloStatus.Active, now), (await other.ReadAll()).Version.Next()));

        var provider = new PostgresGatewayListProvider(database.DataSource, cluster, Options.Create(new GatewayOptions()));
        var gateways = await provider.GetGateways();
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 30001), new IPEndPoint(IPAddress.Loopback, 30000)], gateways.Select(g => g.ToIPEndPoint()));
        Assert.True(provider.IsUpdatable);
        Assert.Equal(gateways.Select(g => g.ToIPEndPoint()), await provider.GetGatewayEndpointsAsync(CancellationToken.None)); // what the CLI probes

        // A silo declared dead drops out of the list at once.
        var rows = await table.ReadAll();
        var (entry, etag) = rows.Members.Single(m => m.Item1.ProxyPort == 30001);
        entry.Status = SiloStatus.Dead;
        Assert.True(await table.UpdateRow(entry, etag, rows.Version.Next()));
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 30000)], (await provider.GetGateways()).Select(g => g.ToIPEndPoint()));
    }
}
