using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using PunkGrid.Tests.Shared;

namespace PunkGrid.Bench.Shared;

/// <summary>
/// One silo process of the soak, on fixed ports so that it comes back on the same address after a kill: on loopback, or
/// inside a host of an <c>infra/hosts.sh</c> harness (<paramref name="hosted"/>: the harness's name and the host's address).
/// </summary>
public sealed class LocalSilo(string name, int siloPort, int gatewayPort, int dashboardPort, (string Harness, string Address)? hosted = null)
{
    private Process? process;

    public string Name { get; } = name;

    public int DashboardPort { get; } = dashboardPort;

    /// <summary>The address its dashboard, gateway and silo port listen on.</summary>
    public string Address => hosted?.Address ?? "127.0.0.1";

    public string DashboardUrl => $"http://{Address}:{DashboardPort}";

    public bool Frozen { get; private set; }

    public bool Alive => process is { HasExited: false };

    /// <summary>The silo's process id while it runs (for /proc readings: memory, CPU time).</summary>
    public int? Pid => Alive ? process!.Id : null;

    public string LogPath => Path.Combine(Path.GetTempPath(), $"punkgrid-bench-{Name}.log");

    /// <summary>Starts the silo and waits for its dashboard; returns early, without error, if the process dies meanwhile.</summary>
    public async Task StartAsync(string siloDll, string postgres, int slots, IReadOnlyDictionary<string, string> environment, string? hostsScript = null)
    {
        var start = new ProcessStartInfo(hosted is null ? "dotnet" : "bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        var command = new List<string>
        {
            siloDll, "serve", "--silo-port", $"{siloPort}", "--gateway-port", $"{gatewayPort}",
            "--dashboard", DashboardUrl, "--name", Name, "--slots", $"{slots}",
        };
        if (hosted is { } host)
        {
            // Inside its host (hosts.sh execs into the namespace, so the process is the silo itself): it advertises the host's
            // address, and its dashboard answers to that address.
            command.InsertRange(0, [hostsScript ?? throw new ArgumentNullException(nameof(hostsScript)), "exec", host.Harness, Name, "dotnet"]);
            start.Environment["PUNKGRID__AdvertisedAddress"] = host.Address;
            start.Environment["PUNKGRID__Dashboard__AllowedHosts"] = host.Address;
        }
        foreach (var arg in command)
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
                await probe.ConnectAsync(IPAddress.Parse(Address), DashboardPort);
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

/// <summary>
/// The soak's PostgreSQL (infra/local-postgres.sh in a folder of its own, durable as the demo's) and its silos. With
/// <paramref name="hostsHarness"/> (an <c>infra/hosts.sh</c> harness with hosts db, db2, s1…sN and this process running
/// in another of them): PostgreSQL's primary on db with a synchronous standby on db2, every silo in its own host, the
/// connection string naming both servers (issue 29's soak).
/// </summary>
public sealed class LocalCluster(string repository, string siloDll, int siloCount, int slots, TimeSpan leaseTimeout, string token,
    IReadOnlyDictionary<string, string>? extraEnvironment = null, string? hostsHarness = null) : IAsyncDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"punkgrid-bench-pg-{Guid.NewGuid():N}");
    private readonly string tlsFolder = Path.Combine(Path.GetTempPath(), $"punkgrid-bench-tls-{Guid.NewGuid():N}");
    private readonly Dictionary<string, string> databaseFolders = [];

    public string Postgres { get; private set; } = "";

    /// <summary>The bench's own way to the primary: its Unix socket (a new data source after a failover).</summary>
    public NpgsqlDataSource Database { get; private set; } = null!;

    public List<LocalSilo> Silos { get; } = [];

    public TimeSpan LeaseTimeout => leaseTimeout;

    public bool Hosted => hostsHarness is not null;

    /// <summary>The database host holding the primary now (db, or db2 after a failover), and the other one.</summary>
    public string PrimaryHost { get; private set; } = "db";

    public string StandbyHost => PrimaryHost == "db" ? "db2" : "db";

    private string PrimaryFolder => Hosted ? databaseFolders[PrimaryHost] : folder;

    private string Script => Path.Combine(repository, "infra", "local-postgres.sh");

    private string HostsScript => Path.Combine(repository, "infra", "hosts.sh");

    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>(extraEnvironment ?? new Dictionary<string, string>())
    {
        ["PUNKGRID__Queue__LeaseTimeout"] = leaseTimeout.ToString("c"),
        ["PUNKGRID__Queue__AllowFaultInjection"] = "true",
        ["PUNKGRID__Dashboard__Token"] = token,
        ["PUNKGRID__Worker__ThreadsPerJob"] = "1",
        ["PUNKGRID__Tls__Directory"] = tlsFolder,
    };

    public async Task StartAsync()
    {
        var hosts = new List<string>();
        if (Hosted)
        {
            Postgres = await StartReplicatedDatabaseAsync();
            hosts.AddRange(Enumerable.Range(1, siloCount).Select(i => $"s{i}"));
        }
        else
        {
            Postgres = await StartServerAsync(host: null, folder);
        }
        var addresses = new Dictionary<string, string>();
        foreach (var host in hosts)
        {
            addresses[host] = await AddressAsync(host);
        }
        // The cluster's mutual TLS, made by the silo itself as an operator would (naming every silo host's address).
        var (tlsExit, tlsOutput) = await RunAsync("dotnet", [siloDll, "tls", "create", "--out", tlsFolder, .. addresses.Values.SelectMany(a => new[] { "--host", a })]);
        if (tlsExit != 0)
        {
            throw new InvalidOperationException($"could not make the cluster's certificates: {tlsOutput}");
        }
        Database = SocketDataSource(PrimaryFolder);
        for (var i = 0; i < siloCount; i++)
        {
            var silo = Hosted
                ? new LocalSilo($"s{i + 1}", 11111, 30000, 8080, (hostsHarness!, addresses[$"s{i + 1}"]))
                : new LocalSilo($"soak-{i + 1}", FreePort(), FreePort(), FreePort());
            Silos.Add(silo);
            await silo.StartAsync(siloDll, Postgres, slots, Environment, HostsScript);
        }
    }

    /// <summary>The primary on db, a synchronous standby on db2; the connection string names both, read-write wanted.</summary>
    private async Task<string> StartReplicatedDatabaseAsync()
    {
        foreach (var host in new[] { "db", "db2" })
        {
            databaseFolders[host] = Path.Combine(Path.GetTempPath(), $"punkgrid-bench-{host}-{Guid.NewGuid():N}");
        }
        var primary = new NpgsqlConnectionStringBuilder(await StartServerAsync("db", databaseFolders["db"]));
        var standby = new NpgsqlConnectionStringBuilder(await MakeStandbyAsync("db2"));
        primary.Host = $"{primary.Host}:{primary.Port},{standby.Host}:{standby.Port}";
        primary.TargetSessionAttributes = "read-write";
        return primary.ConnectionString;
    }

    /// <summary>
    /// Starts the server in <paramref name="pgFolder"/> (made on first start) on <paramref name="host"/>, listening on its
    /// address, or on loopback when there is no host; its connection string.
    /// </summary>
    private async Task<string> StartServerAsync(string? host, string pgFolder)
    {
        var (exit, output) = host is null
            ? await ShellAsync(Script, "start", pgFolder, "punkgrid")
            : await ShellAsync(HostsScript, "exec", hostsHarness!, host, "bash", Script, "start", pgFolder, "punkgrid", "--listen", await AddressAsync(host));
        return exit == 0
            ? output.Trim().Split('\n')[^1]
            : throw new InvalidOperationException($"could not start PostgreSQL{(host is null ? "" : $" on {host}")}: {output}");
    }

    /// <summary>Makes <paramref name="host"/>'s server (afresh) a synchronous standby of the primary; its connection string.</summary>
    private async Task<string> MakeStandbyAsync(string host)
    {
        var (exit, output) = await ShellAsync(HostsScript, "exec", hostsHarness!, host, "bash", Script, "standby", databaseFolders[host],
            "--primary", PrimaryFolder, "--listen", await AddressAsync(host), "--name", host, "--synchronous");
        if (exit != 0)
        {
            throw new InvalidOperationException($"could not make a standby on {host}: {output}");
        }
        return output.Trim().Split('\n')[^1];
    }

    /// <summary>
    /// The primary lost for good: its postmaster SIGKILLed and its host cut from every other, the standby promoted
    /// <paramref name="beforePromotion"/> later. Then, as an operator would, the old primary's host is healed, wiped and
    /// made the new primary's synchronous standby, so that the next failover has somewhere to go.
    /// </summary>
    public async Task FailOverAsync(TimeSpan beforePromotion)
    {
        var old = PrimaryHost;
        if (await PostmasterAsync() is { } postmaster)
        {
            Signals.Send([postmaster], Signals.Kill);
        }
        await ShellAsync(HostsScript, "cut", hostsHarness!, old);
        await Task.Delay(beforePromotion);
        var (exit, output) = await ShellAsync(HostsScript, "exec", hostsHarness!, StandbyHost, "bash", Script, "promote", databaseFolders[StandbyHost]);
        if (exit != 0)
        {
            throw new InvalidOperationException($"could not promote {StandbyHost}: {output}");
        }
        PrimaryHost = StandbyHost;
        var previous = Database;
        Database = SocketDataSource(PrimaryFolder);
        await previous.DisposeAsync();
        // The old primary's leftovers (its backends die with the postmaster), then a fresh standby in its place.
        await ShellAsync(Script, "stop", databaseFolders[old]);
        await ShellAsync(HostsScript, "heal", hostsHarness!, old);
        Directory.Delete(databaseFolders[old], recursive: true);
        await MakeStandbyAsync(old);
    }

    /// <summary>Drops every packet between <paramref name="host"/> and <paramref name="peers"/> (all other hosts when none).</summary>
    public Task CutAsync(string host, params string[] peers) => ShellAsync(HostsScript, ["cut", hostsHarness!, host, .. peers]);

    public Task HealAsync(string host) => ShellAsync(HostsScript, "heal", hostsHarness!, host);

    private async Task<string> AddressAsync(string host)
    {
        var (exit, output) = await ShellAsync(HostsScript, "address", hostsHarness!, host);
        return exit == 0 ? output.Trim() : throw new InvalidOperationException($"no host {host}: {output}");
    }

    private static NpgsqlDataSource SocketDataSource(string pgFolder)
    {
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = pgFolder,
            Port = int.Parse(File.ReadAllText(Path.Combine(pgFolder, "port")).Trim(), System.Globalization.CultureInfo.InvariantCulture),
            Username = "postgres",
            Password = File.ReadAllText(Path.Combine(pgFolder, "password")).Trim(),
            Database = "punkgrid",
            Pooling = false,
            Timeout = 5,
            CommandTimeout = 30,
        };
        return NpgsqlDataSource.Create(builder.ConnectionString);
    }

    public Task RestartAsync(LocalSilo silo) => silo.StartAsync(siloDll, Postgres, slots, Environment, HostsScript);

    public async Task StopDatabaseAsync() => await ShellAsync(Script, "stop", PrimaryFolder);

    public async Task StartDatabaseAsync()
    {
        var started = await StartServerAsync(Hosted ? PrimaryHost : null, PrimaryFolder);
        // On loopback it must come back where the silos look for it (a hosted cluster's string names both hosts instead).
        if (!Hosted && started != Postgres)
        {
            throw new InvalidOperationException($"PostgreSQL came back as {started}, not on its port: {Postgres}");
        }
    }

    /// <summary>The primary's postmaster, or null when it is not running.</summary>
    private async Task<int?> PostmasterAsync()
    {
        var (exit, output) = await ShellAsync(Script, "pid", PrimaryFolder);
        return exit == 0 ? int.Parse(output.Trim(), System.Globalization.CultureInfo.InvariantCulture) : null;
    }

    /// <summary>The postmaster and its backends (for CPU readings, and to pause the database).</summary>
    public async Task<IReadOnlyList<int>> DatabaseProcessesAsync() =>
        await PostmasterAsync() is { } postmaster ? [postmaster, .. Signals.ChildrenOf(postmaster)] : [];

    public async Task PauseDatabaseAsync(bool pause) => Signals.Send(await DatabaseProcessesAsync(), pause ? Signals.Stop : Signals.Continue);

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in Silos)
        {
            silo.Kill();
        }
        await PauseDatabaseAsync(pause: false);
        var folders = Hosted ? databaseFolders.Values.ToList() : [folder];
        foreach (var pg in folders)
        {
            await ShellAsync(Script, "stop", pg);
        }
        if (Database is not null)
        {
            await Database.DisposeAsync();
        }
        foreach (var path in folders.Append(tlsFolder))
        {
            try
            {
                Directory.Delete(path, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
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
