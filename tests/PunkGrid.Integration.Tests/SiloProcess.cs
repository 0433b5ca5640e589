using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace PunkGrid.Integration.Tests;

/// <summary>A real <c>PunkGrid.Silo serve</c> process on free loopback ports, logging to a file; killed with SIGKILL on demand.</summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly Process process;

    private SiloProcess(Process process, string name, Ports ports, string logPath)
    {
        this.process = process;
        Name = name;
        Addresses = ports;
        LogPath = logPath;
    }

    /// <summary>Where a silo listens: silo-to-silo, client gateway, dashboard.</summary>
    public sealed record Ports(int Silo, int Gateway, int Dashboard)
    {
        public static Ports Free() => new(FreePort(), FreePort(), FreePort());
    }

    /// <summary>This silo's ports; start another silo with them to bring a node back on the same address.</summary>
    public Ports Addresses { get; }

    public int Pid => process.Id;

    public int GatewayPort => Addresses.Gateway;

    /// <summary>The dashboard, <c>/api/</c> and <c>/metrics</c> of this silo.</summary>
    public int DashboardPort => Addresses.Dashboard;

    public Uri DashboardUrl => new($"http://127.0.0.1:{DashboardPort}/");

    public string Name { get; }

    public string Gateway => $"127.0.0.1:{GatewayPort}";

    public string LogPath { get; }

    public bool HasExited => process.HasExited;

    public static int FreePort() => LoopbackHttpServer.FreePort();

    /// <summary>Every test silo's timing: 6 s leases, 1 s heartbeats, one thread per job (loopback or hosted).</summary>
    public static readonly IReadOnlyDictionary<string, string> TestTimings = new Dictionary<string, string>
    {
        ["PUNKGRID__Queue__LeaseTimeout"] = "00:00:06",
        ["PUNKGRID__Worker__HeartbeatInterval"] = "00:00:01",
        ["PUNKGRID__Worker__ThreadsPerJob"] = "1",
    };

    public static async Task<SiloProcess> StartAsync(string postgres, string name, int slots, IReadOnlyDictionary<string, string>? environment = null, Ports? ports = null)
    {
        ports ??= Ports.Free();
        var (siloPort, gatewayPort, dashboardPort) = (ports.Silo, ports.Gateway, ports.Dashboard);
        var log = Path.Combine(Path.GetTempPath(), $"punkgrid-{name}-{Guid.NewGuid():N}.log");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = PostgresServer.RepositoryRoot,
        };
        foreach (var arg in new[]
        {
            PostgresServer.Metadata("SiloAssembly"), "serve", "--silo-port", $"{siloPort}",
            "--gateway-port", $"{gatewayPort}", "--name", name, "--slots", $"{slots}", "--dashboard", $"http://127.0.0.1:{dashboardPort}",
        })
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment["PUNKGRID__Postgres"] = postgres; // a secret: through the environment, not the command line
        start.Environment["PUNKGRID__Tls__Directory"] = TestCertificates.Directory; // mutual TLS, as in production
        foreach (var (key, value) in TestTimings.Concat(environment ?? new Dictionary<string, string>()))
        {
            start.Environment[key] = value;
        }
        var process = StartLogged(start, log);
        var silo = new SiloProcess(process, name, ports, log);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"silo {name} exited with {process.ExitCode}: {File.ReadAllText(log)}");
            }
            try
            {
                using (var gateway = new TcpClient())
                {
                    await gateway.ConnectAsync(IPAddress.Loopback, gatewayPort);
                }
                using (var dashboard = new TcpClient())
                {
                    await dashboard.ConnectAsync(IPAddress.Loopback, dashboardPort);
                }
                return silo;
            }
            catch (SocketException)
            {
                await Task.Delay(250);
            }
        }
        await silo.DisposeAsync();
        throw new TimeoutException($"silo {name} did not open its gateway in 90 s: {File.ReadAllText(log)}");
    }

    /// <summary>Starts <paramref name="start"/> (its output and error redirected) with both written to <paramref name="logPath"/> as they come.</summary>
    public static Process StartLogged(ProcessStartInfo start, string logPath)
    {
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{start.FileName} did not start");
        var writer = new StreamWriter(logPath) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { lock (writer) { writer.WriteLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (writer) { writer.WriteLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>SIGKILL: no shutdown, no goodbye to the cluster — as a crashed machine.</summary>
    public void Kill()
    {
        if (!process.HasExited)
        {
            Signals.Send([process.Id], Signals.Continue); // a frozen process cannot die until it runs again
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
    }

    /// <summary>SIGTERM, as a service manager stops it: the silo shuts down gracefully; waits up to <paramref name="timeout"/> for it to exit.</summary>
    public async Task StopGracefullyAsync(TimeSpan timeout)
    {
        Signals.Send([process.Id], Signals.Terminate);
        using var wait = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(wait.Token);
    }

    /// <summary>SIGSTOP: the process stops dead, sockets open, as a stalled VM or a long GC pause would.</summary>
    public void Freeze() => Signals.Send([process.Id], Signals.Stop);

    /// <summary>SIGCONT after <see cref="Freeze"/>.</summary>
    public void Thaw() => Signals.Send([process.Id], Signals.Continue);

    public ValueTask DisposeAsync()
    {
        Kill();
        process.Dispose();
        return ValueTask.CompletedTask;
    }
}
