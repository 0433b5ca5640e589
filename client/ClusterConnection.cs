using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace PunkGrid.Client;

/// <summary>A connected Orleans client: gateways from <c>--gateway</c>, else <c>$PUNKGRID_GATEWAYS</c>, else 127.0.0.1:30000.</summary>
public sealed class ClusterConnection : IAsyncDisposable
{
    public const string DefaultGateway = "127.0.0.1:30000";

    private readonly IHost host;

    private ClusterConnection(IHost host, IReadOnlyList<IPEndPoint> gateways)
    {
        this.host = host;
        Gateways = gateways;
    }

    public IReadOnlyList<IPEndPoint> Gateways { get; }

    public IClusterClient Client => host.Services.GetRequiredService<IClusterClient>();

    public static IReadOnlyList<IPEndPoint> ParseGateways(string? value)
    {
        var text = string.IsNullOrWhiteSpace(value) ? Environment.GetEnvironmentVariable("PUNKGRID_GATEWAYS") : value;
        if (string.IsNullOrWhiteSpace(text))
        {
            text = DefaultGateway;
        }
        return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Resolve).ToList();
    }

    /// <summary>host:port with an IP address or a DNS name (resolved now, IPv4 first: silo-1:30000 in a compose network).</summary>
    private static IPEndPoint Resolve(string gateway)
    {
        if (IPEndPoint.TryParse(gateway, out var endpoint) && endpoint.Port > 0 && gateway.Contains(':', StringComparison.Ordinal))
        {
            return endpoint;
        }
        var colon = gateway.LastIndexOf(':');
        if (colon > 0 && int.TryParse(gateway[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536)
        {
            try
            {
                var addresses = Dns.GetHostAddresses(gateway[..colon]);
                if (addresses.OrderBy(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 0 : 1).FirstOrDefault() is { } address)
                {
                    return new IPEndPoint(address, port);
                }
            }
            catch (System.Net.Sockets.SocketException ex)
            {
                throw new ArgumentException($"gateway '{gateway}': cannot resolve '{gateway[..colon]}' ({ex.Message})", ex);
            }
        }
        throw new ArgumentException($"gateway '{gateway}' is not host:port (e.g. {DefaultGateway})");
    }

    public static async Task<ClusterConnection> ConnectAsync(string? gateways, CancellationToken cancellation)
    {
        var endpoints = ParseGateways(gateways);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.UseStaticClustering(endpoints.ToArray());
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = Environment.GetEnvironmentVariable("PUNKGRID_CLUSTER") ?? "punkgrid";
                o.ServiceId = Environment.GetEnvironmentVariable("PUNKGRID_SERVICE") ?? "punkgrid";
            });
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(30));
            client.UseConnectionRetryFilter((_, _) => Task.FromResult(false));
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellation);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            host.Dispose();
            throw new ClusterUnreachableException(
                $"no PunkGrid silo reachable at {string.Join(", ", endpoints)} ({ex.GetBaseException().Message}); " +
                "start one with `./punkgrid demo` or `./punkgrid silo serve`, or point --gateway / PUNKGRID_GATEWAYS at one", ex);
        }
        return new ClusterConnection(host, endpoints);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await host.StopAsync(TimeSpan.FromSeconds(5));
        }
        finally
        {
            host.Dispose();
        }
    }
}

public sealed class ClusterUnreachableException(string message, Exception inner) : Exception(message, inner);
