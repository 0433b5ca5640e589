using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using PunkGrid.Tests.Shared;

namespace PunkGrid.Bench.Shared;

/// <summary>One silo process of the soak, on fixed ports so that it comes back on the same address after a kill.</summary>
public sealed class LocalSilo(string name, int siloPort, int gatewayPort, int dashboardPort)
{
    private Process? process;

    public string Name { get; } = name;

    public int DashboardPort { get; } = dashboardPort;

    public bool Frozen { get; private set; }

    public bool Alive => process is { HasExited: false };

    /// <summary>The silo's process id while it runs (for /proc readings: memory, CPU time).</summary>
    public int? Pid => Alive ? process!.Id : null;

    public string LogPath => Path.Combine(Path.GetTempPath(), $"punkgrid-bench-{Name}.log");

    /// <summary>Starts the silo and waits for its dashboard; returns early, without error, if the process dies meanwhile.</summary>
    public async Task StartAsync(string siloDll, string postgres, int slots, IReadOnlyDictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
        {
            siloDll, "serve", "--silo-port", $"{siloPort}", "--gateway-port", $"{gatewayPort}",
            "--dashboard", $"http://127.0.0.1:{DashboardPort}", "--name", Name, "--slots", $"{slots}",
        })
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }
        start.Environment["PUNKGRID__Postgres"] = postgres; // the database's password stays off the command line
        process = Process.Start(start)!;
        var log = new StreamWriter(LogPath, append: true) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { lock (log) { log.WriteLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (log) { log.WriteLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Frozen = false;
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline && Alive)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, DashboardPort);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(500);
            }
        }
        if (Alive)
        {
            throw new InvalidOperationException($"silo {Name} did not open its dashboard within 120 s (see {LogPath})");
        }
        // It started and died at once (a poison job it took over killed it, say): the caller's supervisor starts it again.
    }

    public void Kill()
    {
        if (process is { HasExited: false })
        {
            Signals.Send([process.Id], Signals.Continue);
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        Frozen = false;
    }

    public void Freeze()
    {
        if (Alive)
        {
            Signals.Send([process!.Id], Signals.Stop);
            Frozen = true;
        }
    }

    public void Thaw()
    {
        if (process is { HasExited: false })
        {
            Signals.Send([process.Id], Signals.Continue);
        }
        Frozen = false;
    }
}

/// <summary>The soak's PostgreSQL (infra/local-postgres.sh in a folder of its own, durable as the demo's) and its silos.</summary>
public sealed class LocalCluster(string repository, string siloDll, int siloCount, int slots, TimeSpan leaseTimeout, string token,
    IReadOnlyDictionary<string, string>? extraEnvironment = null) : IAsyncDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"punkgrid-bench-pg-{Guid.NewGuid():N}");

    public string Postgres { get; private set; } = "";

    public NpgsqlDataSource Database { get; private set; } = null!;

    public List<LocalSilo> Silos { get; } = [];

    public TimeSpan LeaseTimeout => leaseTimeout;

    private string Script => Path.Combine(repository, "infra", "local-postgres.sh");

    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>(extraEnvironment ?? new Dictionary<string, string>())
    {
        ["PUNKGRID__Queue__LeaseTimeout"] = leaseTimeout.ToString("c"),
        ["PUNKGRID__Queue__AllowFaultInjection"] = "true",
        ["PUNKGRID__Dashboard__Token"] = token,
        ["PUNKGRID__Worker__ThreadsPerJob"] = "1",
        ["PUNKGRID__Tls__Directory"] = Path.Combine(folder, "tls"),
    };

    public async Task StartAsync()
    {
        var (exit, output) = await ShellAsync(Script, "start", folder, "punkgrid");
        if (exit != 0)
        {
            throw new InvalidOperationException($"could not start PostgreSQL: {output}");
        }
        Postgres = output.Trim().Split('\n')[^1];
        // The cluster's mutual TLS, made by the silo itself as an operator would.
        var (tlsExit, tlsOutput) = await RunAsync("dotnet", siloDll, "tls", "create", "--out", Path.Combine(folder, "tls"));
        if (tlsExit != 0)
        {
            throw new InvalidOperationException($"could not make the cluster's certificates: {tlsOutput}");
        }
        Database = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(Postgres) { Pooling = false, Timeout = 5, CommandTimeout = 30 }.ConnectionString);
        for (var i = 0; i < siloCount; i++)
        {
            var silo = new LocalSilo($"soak-{i + 1}", FreePort(), FreePort(), FreePort());
            Silos.Add(silo);
            await silo.StartAsync(siloDll, Postgres, slots, Environment);
        }
    }

    public Task RestartAsync(LocalSilo silo) => silo.StartAsync(siloDll, Postgres, slots, Environment);

    public async Task StopDatabaseAsync() => await ShellAsync(Script, "stop", folder);

    public async Task StartDatabaseAsync()
    {
        var (exit, output) = await ShellAsync(Script, "start", folder, "punkgrid");
        if (exit != 0 || output.Trim().Split('\n')[^1] != Postgres)
        {
            throw new InvalidOperationException($"PostgreSQL did not come back on its port: {output}");
        }
    }

    /// <summary>The postmaster and its backends (for CPU readings).</summary>
    public async Task<IReadOnlyList<int>> DatabaseProcessesAsync()
    {
        var (exit, output) = await ShellAsync(Script, "pid", folder);
        if (exit != 0)
        {
            return [];
        }
        var postmaster = int.Parse(output.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        return [postmaster, .. Signals.ChildrenOf(postmaster)];
    }

    public async Task PauseDatabaseAsync(bool pause)
    {
        var (exit, output) = await ShellAsync(Script, "pid", folder);
        if (exit == 0)
        {
            var postmaster = int.Parse(output.Trim(), System.Globalization.CultureInfo.InvariantCulture);
            Signals.Send([postmaster, .. Signals.ChildrenOf(postmaster)], pause ? Signals.Stop : Signals.Continue);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in Silos)
        {
            silo.Kill();
        }
        await PauseDatabaseAsync(pause: false);
        await ShellAsync(Script, "stop", folder);
        if (Database is not null)
        {
            await Database.DisposeAsync();
        }
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static Task<(int, string)> ShellAsync(string file, params string[] args) => RunAsync("bash", [file, .. args]);

    private static async Task<(int, string)> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, (await stdout) + (await stderr));
    }
}
