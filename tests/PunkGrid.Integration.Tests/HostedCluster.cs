using System.Diagnostics;
using Npgsql;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// The cluster on hosts of its own (issue 29): PostgreSQL on <c>db</c>, a silo on each of <c>s1</c>, <c>s2</c> and <c>s3</c>, the CLI
/// on <c>op</c>, every process inside its host and reaching the others only by address. The test itself reads the
/// database through PostgreSQL's Unix socket (a file, not the hosts' network): the checks need no shortcut the cluster has.
/// </summary>
public class HostedCluster : IAsyncLifetime
{
    /// <summary>Three silo hosts: the fewest with which a silo cut from its peers cannot vote them dead (its probes through
    /// a third silo fail too, so its results are "unknown"; theirs, direct and indirect, are two votes).</summary>
    public static readonly string[] ThreeSiloHosts = ["s1", "s2", "s3"];

    public const string DashboardToken = "hosted-cluster-token";
    private readonly List<HostedSilo> silos = [];
    private readonly bool standby;
    private string folder = "";
    private string pgFolder = "";
    private string standbyFolder = "";

    public HostedCluster()
        : this(ThreeSiloHosts, standby: false)
    {
    }

    /// <param name="siloHosts">The silo hosts, one silo each.</param>
    /// <param name="standby">Whether <c>db2</c> runs a synchronous streaming-replication standby of <c>db</c>, and every
    /// process of the cluster names both in its connection string (<c>Host=db,db2</c>, read-write target).</param>
    protected HostedCluster(string[] siloHosts, bool standby) => (SiloHosts, this.standby) = (siloHosts, standby);

    public string[] SiloHosts { get; }

    public NetworkHosts Hosts { get; private set; } = null!;

    /// <summary>The connection string the cluster's processes use: <c>db</c>'s address.</summary>
    public string Postgres { get; private set; } = "";

    /// <summary>The test's own way in: the server's Unix socket.</summary>
    public NpgsqlDataSource Database { get; private set; } = null!;

    public string TlsDirectory => Path.Combine(folder, "tls");

    public IReadOnlyList<HostedSilo> Silos => silos;

    private static string LocalPostgres => Path.Combine(PostgresServer.RepositoryRoot, "infra", "local-postgres.sh");

    /// <summary>A data source on the server of <paramref name="pgFolder"/> through its Unix socket.</summary>
    private NpgsqlDataSource SocketDataSource(string pgFolder)
    {
        var single = new NpgsqlConnectionStringBuilder(Postgres) { TargetSessionAttributes = null };
        single.Host = pgFolder;
        single.Port = int.Parse(File.ReadAllText(Path.Combine(pgFolder, "port")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        return NpgsqlDataSource.Create(single.ConnectionString);
    }

    /// <summary>
    /// Scenario (k)'s failover: the primary's postmaster SIGKILLed and <c>db</c>'s link cut (its address a black hole
    /// from now on), then the standby promoted, as an operator or Patroni promotes it. The test reads the new primary after.
    /// </summary>
    public async Task FailOverAsync(TimeSpan beforePromotion)
    {
        Assert.True(standby, "this cluster has no standby");
        var (code, pid) = await NetworkHosts.RunProcessAsync(TimeSpan.FromSeconds(30), "bash", [LocalPostgres, "pid", pgFolder]);
        Assert.True(code == 0, pid);
        await NetworkHosts.RunProcessAsync(TimeSpan.FromSeconds(10), "kill", ["-KILL", pid.Trim()]);
        await Hosts.CutAsync("db");
        await Task.Delay(beforePromotion);
        var (promoted, output) = await Hosts.RunAsync("db2", TimeSpan.FromMinutes(1), LocalPostgres, "promote", standbyFolder);
        Assert.True(promoted == 0, output);
        var old = Database;
        Database = SocketDataSource(standbyFolder);
        await old.DisposeAsync();
    }

    /// <summary>
    /// What each scenario starts from, whatever the one before left (a failed test may end mid-fault): every link healed,
    /// every stopped silo started again on its address.
    /// </summary>
    public async Task ResetAsync()
    {
        foreach (var host in Hosts.Addresses.Keys)
        {
            await Hosts.HealAsync(host);
        }
        foreach (var silo in silos.Where(s => s.HasExited).ToList())
        {
            await RestartAsync(silo.Host);
        }
    }

    public HostedSilo Silo(string host) => silos.Single(s => s.Host == host);

    /// <summary>Starts <paramref name="host"/>'s silo again on its address, as a supervisor would: a new incarnation.</summary>
    public async Task<HostedSilo> RestartAsync(string host)
    {
        var index = silos.FindIndex(s => s.Host == host);
        silos[index].Dispose();
        silos[index] = await HostedSilo.StartAsync(this, host);
        return silos[index];
    }

    public async Task InitializeAsync()
    {
        if (NetworkHosts.WhyUnavailable is not null)
        {
            return; // every test of this fixture is skipped, with the reason
        }
        folder = Directory.CreateTempSubdirectory("punkgrid-hosted-").FullName;
        Hosts = await NetworkHosts.UpAsync([.. standby ? new[] { "db", "db2" } : ["db"], .. SiloHosts, "op"]);
        var db = Hosts.Addresses["db"];
        var pg = Directory.CreateTempSubdirectory("punkgrid-hosted-pg-").FullName; // local-postgres.sh gives it to the postgres user
        pgFolder = pg;
        var (code, output) = await Hosts.RunAsync("db", TimeSpan.FromMinutes(2), LocalPostgres, "start", pg, "--no-fsync", "--listen", db);
        Assert.True(code == 0, output);
        Postgres = output.Trim().Split('\n')[^1];
        Database = SocketDataSource(pg);
        if (standby)
        {
            // db2 streams db's WAL and acknowledges every commit before the client hears of it (synchronous_standby_names).
            standbyFolder = Directory.CreateTempSubdirectory("punkgrid-hosted-pg2-").FullName;
            var (made, replica) = await Hosts.RunAsync("db2", TimeSpan.FromMinutes(2), LocalPostgres, "standby", standbyFolder,
                "--primary", pg, "--listen", Hosts.Addresses["db2"], "--name", "db2", "--synchronous", "--no-fsync");
            Assert.True(made == 0, replica);
            var primary = new NpgsqlConnectionStringBuilder(Postgres);
            var second = new NpgsqlConnectionStringBuilder(replica.Trim().Split('\n')[^1]);
            // What an operator writes for a primary and its standby: both hosts, and only a read-write server will do.
            primary.Host = $"{primary.Host}:{primary.Port},{second.Host}:{second.Port}";
            primary.TargetSessionAttributes = "read-write";
            Postgres = primary.ConnectionString;
        }

        // Certificates that name every silo host's address, made as an operator makes them (`tls create --host …`).
        var tls = await NetworkHosts.RunProcessAsync(TimeSpan.FromMinutes(1), "dotnet",
            [PostgresServer.Metadata("SiloAssembly"), "tls", "create", "--out", TlsDirectory, .. SiloHosts.SelectMany(h => new[] { "--host", Hosts.Addresses[h] })]);
        Assert.True(tls.Code == 0, tls.Output);

        foreach (var host in SiloHosts)
        {
            silos.Add(await HostedSilo.StartAsync(this, host));
        }
    }

    /// <summary>The real CLI, run on <c>op</c>: it finds the gateways in the membership table on <c>db</c>.</summary>
    public Task<(int Code, string Output)> CliAsync(TimeSpan timeout, params string[] arguments) =>
        Hosts.RunAsync("op", timeout, ["env", $"PUNKGRID__Postgres={Postgres}", $"PUNKGRID__Tls__Directory={TlsDirectory}",
            "dotnet", PostgresServer.Metadata("ClientAssembly"), .. arguments]);

    /// <summary>A GET of <paramref name="path"/> on <paramref name="host"/>'s dashboard, from <c>op</c>, with the token: curl's exit code and the body.</summary>
    public Task<(int Code, string Output)> DashboardAsync(string host, string path, TimeSpan timeout) =>
        Hosts.RunAsync("op", timeout + TimeSpan.FromSeconds(5), "curl", "--silent", "--show-error", "--fail", "--max-time", ((int)timeout.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-H", $"Authorization: Bearer {DashboardToken}", $"http://{Hosts.Addresses[host]}:8080{path}");

    public async Task<long> CountAsync(string sql, string id)
    {
        await using var command = Database.CreateCommand(sql);
        command.Parameters.AddWithValue("id", id);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Polls until <paramref name="condition"/> holds or the time is up (then fails with the silo logs' tails).</summary>
    public Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what) => Polling.UntilAsync(condition, timeout, what, Logs);

    public string Logs() => string.Join("\n", silos.Select(s => $"--- {s.Host}:\n{string.Join('\n', File.ReadLines(s.LogPath).TakeLast(40))}"));

    public async Task DisposeAsync()
    {
        if (NetworkHosts.WhyUnavailable is not null)
        {
            return;
        }
        foreach (var silo in silos)
        {
            silo.Dispose();
        }
        await Hosts.DisposeAsync(); // kills PostgreSQL and anything else inside, removes the hosts
        await Database.DisposeAsync();
        Directory.Delete(folder, recursive: true);
        Directory.Delete(pgFolder, recursive: true);
        if (standby)
        {
            Directory.Delete(standbyFolder, recursive: true);
        }
    }
}

/// <summary>A <c>PunkGrid.Silo serve</c> inside its host: listening on and advertising the host's address, its dashboard there too.</summary>
public sealed class HostedSilo : IDisposable
{
    private readonly Process process;

    private HostedSilo(Process process, string host, string address, string logPath) => (this.process, Host, Address, LogPath) = (process, host, address, logPath);

    public string Host { get; }

    public string Address { get; }

    public string LogPath { get; }

    /// <summary>Whether the silo's process has ended (killed, or stopped by itself: Orleans ends a silo told it is dead).</summary>
    public bool HasExited => process.HasExited;

    public static async Task<HostedSilo> StartAsync(HostedCluster cluster, string host)
    {
        var address = cluster.Hosts.Addresses[host];
        var log = Path.Combine(Path.GetTempPath(), $"punkgrid-hosted-{host}-{Guid.NewGuid():N}.log");
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = PostgresServer.RepositoryRoot };
        foreach (var argument in new[]
        {
            NetworkHosts.Script, "exec", cluster.Hosts.Name, host, "dotnet", PostgresServer.Metadata("SiloAssembly"), "serve",
            "--name", host, "--slots", "1", "--dashboard", $"http://{address}:8080",
        })
        {
            start.ArgumentList.Add(argument);
        }
        // The README's several-machines settings: the connection string and certificates through the environment, the
        // address other hosts reach this one at, a dashboard on the host's address with a token and the names browsers use.
        start.Environment["PUNKGRID__Postgres"] = cluster.Postgres;
        start.Environment["PUNKGRID__Tls__Directory"] = cluster.TlsDirectory;
        start.Environment["PUNKGRID__AdvertisedAddress"] = address;
        start.Environment["PUNKGRID__Dashboard__AllowedHosts"] = address;
        start.Environment["PUNKGRID__Dashboard__Token"] = HostedCluster.DashboardToken;
        foreach (var (key, value) in SiloProcess.TestTimings)
        {
            start.Environment[key] = value;
        }
        var process = SiloProcess.StartLogged(start, log);
        var silo = new HostedSilo(process, host, address, log);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"silo {host} exited with {process.ExitCode}: {File.ReadAllText(log)}");
            }
            try
            {
                if (await cluster.CountAsync("select count(*) from cluster_members where status = 3 and address = @id", address) > 0)
                {
                    return silo; // Active in the membership table, on its own address
                }
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
            {
                // the first silo has not migrated the database yet
            }
            await Task.Delay(500);
        }
        silo.Dispose();
        throw new TimeoutException($"silo {host} did not join in 90 s: {File.ReadAllText(log)}");
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        process.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class HostedCollection : ICollectionFixture<HostedCluster>
{
    public const string Name = "hosted";
}

/// <summary>Scenario (k)'s cluster: PostgreSQL on <c>db</c> with a synchronous standby on <c>db2</c>, silos on <c>s1</c> and <c>s2</c>.</summary>
public sealed class ReplicatedHostedCluster() : HostedCluster(["s1", "s2"], standby: true);

[CollectionDefinition(Name)]
public sealed class ReplicatedHostedCollection : ICollectionFixture<ReplicatedHostedCluster>
{
    public const string Name = "hosted-replicated";
}
