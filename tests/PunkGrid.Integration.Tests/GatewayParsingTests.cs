using System.Net;
using PunkGrid.Client;

namespace PunkGrid.Integration.Tests;

/// <summary>How the CLI reads <c>--gateway</c>: IP endpoints, or host names resolved at once (compose service names).</summary>
public sealed class GatewayParsingTests
{
    [Fact]
    public void Ip_endpoints_and_host_names_are_accepted()
    {
        var gateways = ClusterConnection.ParseGateways("127.0.0.1:30000, localhost:30001");
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 30000), gateways[0]);
        Assert.Equal(30001, gateways[1].Port);
        Assert.True(IPAddress.IsLoopback(gateways[1].Address));
    }

    [Theory]
    [InlineData("30000", "gateway '30000' is not host:port")]
    [InlineData("localhost", "gateway 'localhost' is not host:port")]
    [InlineData("localhost:http", "gateway 'localhost:http' is not host:port")]
    [InlineData("no-such-host.invalid:30000", "cannot resolve 'no-such-host.invalid'")]
    public void Bad_gateways_are_named(string value, string message) =>
        Assert.Contains(message, Assert.Throws<ArgumentException>(() => ClusterConnection.ParseGateways(value)).Message);
}
