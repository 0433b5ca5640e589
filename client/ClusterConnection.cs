using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using PunkGrid.Clustering;

namespace PunkGrid.Client;

/// <summary>
/// A connected Orleans client. Where it looks for the cluster, in order: <c>--gateway</c> (exactly those gateways); else
/// the live gateways in the cluster's membership table when a PostgreSQL connection string is known (<c>--postgres</c>,
/// else <c>PUNKGRID__Postgres</c>, as the demo's <c>.punkgrid/cluster.env</c> sets it), falling back to the list below when
/// the database cannot be reached; else <c>PUNKGRID__Gateways</c>; else 127.0.0.1:30000 (<see cref="CliSettings"/>). Every candidate gateway is probed
/// first and only those that answer are used, so a dead silo in the list costs one short probe, not the command. With TLS
/// the probe is a whole handshake with the operator's certificate, closed as TLS closes (so a healthy silo logs nothing):
/// a gateway that answers is a silo of this cluster.
/// </summary>
public sealed class ClusterConnection : IAsyncDisposable
{
    public const string DefaultGateway = "127.0.0.1:30000";

    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MembershipTimeout = TimeSpan.FromSeconds(3);

    private readonly IHost host;

    private readonly TaskCompletionSource gatewayLost;

    private ClusterConnection(IHost host, IReadOnlyList<IPEndPoint> gateways, TaskCompletionSource gatewayLost)
    {
        this.host = host;
        Gateways = gateways;
        this.gatewayLost = gatewayLost;
    }

    /// <summary>
    /// Completes when a gateway connection this client had open closes (its silo died or was stopped): a call sent through
    /// it gets no answer, and would wait out the whole response timeout.
    /// </summary>
    public Task GatewayLost => gatewayLost.Task;

    /// <summary>The gateways the client uses (those that answered the probe).</summary>
    public IReadOnlyList<IPEndPoint> Gateways { get; }

    public IClusterClient Client => host.Services.GetRequiredService<IClusterClient>();

    /// <summary>host:port[,host:port]; blank: <see cref="DefaultGateway"/>.</summary>
    public static IReadOnlyList<IPEndPoint> ParseGateways(string? value)
    {
        var text = string.IsNullOrWhiteSpace(value) ? DefaultGateway : value;
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
                if (addresses.OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).FirstOrDefault() is { } address)
                {
                    return new IPEndPoint(address, port);
                }
            }
            catch (SocketException ex)
            {
                throw new ArgumentException($"gateway '{gateway}': cannot resolve '{gateway[..colon]}' ({ex.Message})", ex);
            }
        }
        throw new ArgumentException($"gateway '{gateway}' is not host:port (e.g. {DefaultGateway})");
    }

    /// <summary>
    /// The gateways of the silos the membership table lists as Active, most recently alive first, as the clustering
    /// library's <see cref="PostgresGatewayListProvider"/> gives them. Null when the database cannot be read in time.
    /// </summary>
    /// <remarks>
    /// A connection string naming several hosts (a primary and its standbys: <c>Host=db,db2</c>) is read from every host
    /// at once, and the first answer is taken: Npgsql would try the hosts one after the other, each for the whole connect
    /// timeout, so a primary that is gone without a word (a black-holed address) would use up the budget before the next
    /// host is asked, and a one-shot CLI has no pool that remembers the dead host. Any server will do for this read — a
    /// standby's copy of the table lists the same silos (and the gateways are probed before use anyway).
    /// </remarks>
    public static async Task<IReadOnlyList<IPEndPoint>?> MembershipGatewaysAsync(string postgres, string clusterId, CancellationToken cancellation)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(MembershipTimeout);
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(postgres);
        }
        catch (ArgumentException)
        {
            return null;
        }
        var reads = (builder.Host ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .DefaultIfEmpty(builder.Host)
            .Select(host => ReadMembershipAsync(new NpgsqlConnectionStringBuilder(builder.ConnectionString) { Host = host, TargetSessionAttributes = null }, clusterId, timeout.Token))
            .ToList();
        while (reads.Count > 0)
        {
            var done = await Task.WhenAny(reads);
            reads.Remove(done);
            if (await done is { } gateways)
            {
                await timeout.CancelAsync(); // the other reads stop
                return gateways;
            }
        }
        return null;
    }

    /// <summary>The Active silos' gateways as one server's membership table lists them; null when it cannot be read in time.</summary>
    private static async Task<IReadOnlyList<IPEndPoint>?> ReadMembershipAsync(NpgsqlConnectionStringBuilder builder, string clusterId, CancellationToken cancellation)
    {
        try
        {
            builder.Timeout = (int)MembershipTimeout.TotalSeconds;
            builder.CommandTimeout = (int)MembershipTimeout.TotalSeconds;
            builder.Pooling = false;
            await using var dataSource = NpgsqlDataSource.Create(builder);
            var provider = new PostgresGatewayListProvider(dataSource, Options.Create(new ClusterOptions { ClusterId = clusterId }), Options.Create(new GatewayOptions()));
            return await provider.GetGatewayEndpointsAsync(cancellation);
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException or TimeoutException or SocketException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>
    /// The candidates that answer within the probe timeout, in their order: that accept a TCP connection, and with
    /// <paramref name="tls"/> complete a TLS handshake as this operator with a server of the cluster's authority.
    /// </summary>
    private static async Task<(IReadOnlyList<IPEndPoint> Reachable, IReadOnlyList<string> Refused)> ReachableAsync(
        IReadOnlyList<IPEndPoint> candidates, (X509Certificate2 Client, X509Certificate2 Authority)? tls, CancellationToken cancellation)
    {
        var probes = candidates.Select(async endpoint =>
        {
            string? refused = null;
            using var client = new TcpClient(endpoint.AddressFamily);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(ProbeTimeout);
            try
            {
                await client.ConnectAsync(endpoint, timeout.Token);
                refused = $"{endpoint}: no TLS handshake";
                if (tls is { } credentials)
                {
                    // A bare connect that closes makes the silo's TLS layer log a failed handshake with its stack; a whole
                    // handshake closed with close_notify is a client that came and went.
                    await using var stream = new SslStream(client.GetStream(), leaveInnerStreamOpen: false);
                    await stream.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                    {
                        TargetHost = endpoint.Address.ToString(),
                        ClientCertificates = [credentials.Client],
                        RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is X509Certificate2 server
                            && ClusterCertificates.IssuedBy(server, credentials.Authority, ClusterCertificates.ServerAuthentication),
                    }, timeout.Token);
                    // Close as TLS closes, then wait for the silo to close its side: hanging up first would cut off the end
                    // of its handshake, which it logs as a timed-out authentication.
                    await stream.ShutdownAsync();
                    await DrainUntilClosedAsync(stream, timeout.Token);
                }
                return (Ok: true, Refused: (string?)null);
            }
            catch (Exception ex) when (ex is SocketException or IOException or AuthenticationException
                                       or OperationCanceledException && !cancellation.IsCancellationRequested)
            {
                // Connected, then the handshake failed: a silo that does not take this operator's certificate (or not a silo).
                return (Ok: false, Refused: refused is null ? null : $"{endpoint}: {ex.GetBaseException().Message}");
            }
        }).ToList();
        var answers = await Task.WhenAll(probes);
        return (candidates.Where((_, i) => answers[i].Ok).ToList(), answers.Select(a => a.Refused).OfType<string>().ToList());
    }

    /// <summary>Reads (and drops) what the other side still sends until it closes the connection, or the probe's time is up.</summary>
    private static async Task DrainUntilClosedAsync(SslStream stream, CancellationToken cancellation)
    {
        var buffer = new byte[256];
        try
        {
            while (await stream.ReadAsync(buffer, cancellation) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // It answered the handshake: reachable, however it hung up.
        }
    }

    /// <summary>
    /// The operator's TLS credentials from <paramref name="directory"/> (<c>--tls-dir</c>, else <c>PUNKGRID__Tls__Directory</c>): the
    /// cluster's authority and <c>client.pfx</c>. Null when no folder is named: the client then speaks plain TCP, which only a
    /// silo run with <c>PunkGrid:Tls:Insecure</c> accepts.
    /// </summary>
    public static (X509Certificate2 Client, X509Certificate2 Authority)? TlsCredentials(string? directory)
    {
        if (string.IsNullOrWhiteSpace(directory))
        {
            return null;
        }
        return (ClusterCertificates.LoadKeyed(Path.Combine(directory, ClusterCertificates.ClientFile)),
            ClusterCertificates.LoadAuthority(Path.Combine(directory, ClusterCertificates.AuthorityFile)));
    }

    /// <summary>Connects through <paramref name="gateways"/> (<c>--gateway</c>) or, without them, the gateways the settings lead to.</summary>
    public static async Task<ClusterConnection> ConnectAsync(string? gateways, CliSettings settings, CancellationToken cancellation)
    {
        var tls = TlsCredentials(settings.TlsDirectory);
        var (candidates, source) = await CandidatesAsync(gateways, settings, cancellation);
        var (reachable, refused) = await ReachableAsync(candidates, tls, cancellation);
        if (reachable.Count == 0 && refused.Count > 0)
        {
            throw new ClusterUnreachableException(
                $"no PunkGrid silo answered ({source}; the TLS handshake failed at {string.Join("; ", refused)}): " +
                "check that --tls-dir / PUNKGRID__Tls__Directory holds this cluster's certificates", null);
        }
        if (reachable.Count == 0)
        {
            throw new ClusterUnreachableException(
                $"no PunkGrid silo reachable ({source}: {(candidates.Count == 0 ? "none listed" : string.Join(", ", candidates))}); " +
                "start one with `./punkgrid demo` or `./punkgrid silo serve`, or point --gateway / PUNKGRID__Gateways (or --postgres / PUNKGRID__Postgres) at the cluster", null);
        }
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        builder.UseOrleansClient(client =>
        {
            client.UseStaticClustering(reachable.ToArray());
            client.AddGatewayCountChangedHandler((_, e) =>
            {
                if (e.NumberOfConnectedGateways < e.PreviousNumberOfConnectedGateways)
                {
                    lost.TrySetResult();
                }
            });
            if (tls is { } credentials)
            {
                client.UseTls(options =>
                {
                    options.LocalCertificate = credentials.Client;
                    // Only a silo of this cluster: a certificate its authority issued for server authentication.
                    options.RemoteCertificateValidation = (certificate, _, _) =>
                        ClusterCertificates.IssuedBy(certificate, credentials.Authority, ClusterCertificates.ServerAuthentication);
                });
            }
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = settings.ClusterId;
                o.ServiceId = settings.ServiceId;
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
                $"no PunkGrid silo answered at {string.Join(", ", reachable)} ({source}; {ex.GetBaseException().Message}); " +
                (tls is null
                    ? "the cluster's gateways take TLS clients only: give this client the cluster's certificates with --tls-dir DIR or PUNKGRID__Tls__Directory"
                    : "check that --tls-dir / PUNKGRID__Tls__Directory holds this cluster's certificates, or start a silo with `./punkgrid demo`"), ex);
        }
        return new ClusterConnection(host, reachable, lost);
    }

    private static async Task<(IReadOnlyList<IPEndPoint> Candidates, string Source)> CandidatesAsync(string? gateways, CliSettings settings, CancellationToken cancellation)
    {
        if (!string.IsNullOrWhiteSpace(gateways))
        {
            return (ParseGateways(gateways), "--gateway");
        }
        var listed = ParseGateways(settings.Gateways);
        var listSource = settings.Gateways is null ? "the default gateway" : CliSettings.EnvironmentName(CliSettings.GatewaysKey);
        if (settings.Postgres is not { } postgres)
        {
            return (listed, listSource);
        }
        var members = await MembershipGatewaysAsync(postgres, settings.ClusterId, cancellation);
        if (members is null)
        {
            return (listed, $"{listSource} (the membership table could not be read)");
        }
        // The membership table first; the configured list after it, for a silo that is up but not yet (or no longer) listed.
        return (members.Concat(listed).Distinct().ToList(), "the cluster's membership table, then " + listSource);
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

public sealed class ClusterUnreachableException(string message, Exception? inner) : Exception(message, inner);
