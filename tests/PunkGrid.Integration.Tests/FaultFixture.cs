using System.Text.Json;
using Npgsql;
using PunkGrid.Client;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// A cluster to break: a PostgreSQL server of its own (always a local server, so it can be stopped, restarted on its port,
/// paused and resumed) and two silo processes with 2 worker slots each, a 6 s lease timeout, a 1 s heartbeat, fault
/// injection allowed (noop jobs that kill their worker; search promotions held 3 s before they commit) and quarantine after 2 crashes.
/// </summary>
public sealed class FaultFixture : IAsyncLifetime
{
    public PostgresServer Server { get; } = PostgresServer.LocalOnly();

    public string Postgres { get; private set; } = "";

    public NpgsqlDataSource Database { get; private set; } = null!;

    public List<SiloProcess> Silos { get; } = [];

    public static readonly TimeSpan LeaseTimeout = TimeSpan.FromSeconds(6);

    public const int QuarantineAfterCrashes = 2;

    public Dictionary<string, string> Environment => new()
    {
        ["PUNKGRID__Queue__LeaseTimeout"] = "00:00:06",
        ["PUNKGRID__Queue__AllowFaultInjection"] = "true",
        ["PUNKGRID__Queue__QuarantineAfterCrashes"] = $"{QuarantineAfterCrashes}",
        ["PUNKGRID__Worker__HeartbeatInterval"] = "00:00:01",
        ["PUNKGRID__Worker__PollInterval"] = "00:00:01",
        ["PUNKGRID__Dashboard__Token"] = ClusterFixture.ApiToken,
        // A search's promotions are held 3 s uncommitted, so a test can kill the silo between a result and its promotion.
        ["PUNKGRID__Search__HoldPromotionsFor"] = "00:00:03",
    };

    public async Task InitializeAsync()
    {
        await Server.InitializeAsync();
        Postgres = await Server.CreateDatabaseAsync("faults");
        // No pooling: every check opens a fresh connection, so none is left broken by a restart of the server.
        Database = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(Postgres) { Pooling = false }.ConnectionString);
        await EnsureSilosAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var silo in Silos)
        {
            await silo.DisposeAsync();
        }
        await Database.DisposeAsync();
        await Server.DisposeAsync();
    }

    public Task<SiloProcess> StartSiloAsync(string name, SiloProcess.Ports? ports = null) =>
        SiloProcess.StartAsync(Postgres, name, slots: 2, Environment, ports);

    /// <summary>Two live silos: exited ones are replaced (new names and ports), missing ones started.</summary>
    public async Task EnsureSilosAsync()
    {
        foreach (var dead in Silos.Where(s => s.HasExited).ToList())
        {
            await dead.DisposeAsync();
            Silos.Remove(dead);
        }
        while (Silos.Count < 2)
        {
            Silos.Add(await StartSiloAsync($"fault-{Guid.NewGuid().ToString("N")[..6]}"));
        }
    }

    public string Gateways => string.Join(',', Silos.Where(s => !s.HasExited).Select(s => s.Gateway));

    public async Task<(int Exit, string Out, string Error)> Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await PunkGridCommandLine.RunAsync(["--gateway", Gateways, "--tls-dir", TestCertificates.Directory, .. args], stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Submits a noop run of <paramref name="jobs"/> jobs of <paramref name="epochs"/> epochs, <paramref name="durationMs"/> each job.</summary>
    public async Task SubmitNoopAsync(string runId, int jobs, int durationMs, int epochs, params string[] settings)
    {
        string[] line = ["submit", "noop", "--profile", "quick", "--set", $"jobs={jobs}", "--set", $"duration_ms={durationMs}",
            "--set", $"epochs={epochs}", "--set", "metrics_per_second=20", "--set", "checkpoint_bytes=65536", .. settings, "--run-id", runId];
        var submit = await Cli(line);
        // A poison job leased the moment the submit commits can kill the silo holding the run's grain before it answers
        // (exit 3, "did not answer"). A submit with a run id is idempotent: do what the message says, try again.
        for (var retry = 0; retry < 3 && submit.Exit == 3; retry++)
        {
            await EnsureSilosAsync();
            submit = await Cli(line);
        }
        Assert.True(submit.Exit == 0, submit.Error);
    }

    public async Task<long> CountAsync(string sql, string id)
    {
        await using var command = Database.CreateCommand(sql);
        command.Parameters.AddWithValue("id", id);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public Task<long> RunningAsync(string runId) => CountAsync("select count(*) from jobs where run_id = @id and state = 'Running'", runId);

    public Task<long> UnfinishedAsync(string runId) => CountAsync("select count(*) from jobs where run_id = @id and state in ('Queued', 'Running')", runId);

    /// <summary>The database's clock: the fault tests compare it with the timestamps PostgreSQL wrote.</summary>
    public async Task<DateTime> DatabaseNowAsync()
    {
        await using var command = Database.CreateCommand("select now()");
        return (DateTime)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Polls until <paramref name="condition"/> holds; a database that is down counts as "not yet".</summary>
    public Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what) =>
        Polling.UntilAsync(condition, timeout, what, Logs, databaseMayBeDown: true, interval: TimeSpan.FromMilliseconds(250));

    public string Logs() => string.Join("\n", Silos.Select(s => $"--- {s.Name}:\n{string.Join('\n', File.ReadLines(s.LogPath).TakeLast(40))}"));

    /// <summary>Waits for every job of the run to finish (within <paramref name="bound"/>), then runs the invariant checker on it.</summary>
    public async Task<ClusterInvariants.Report> FinishAndCheckAsync(string runId, TimeSpan bound)
    {
        await WaitUntilAsync(async () => await UnfinishedAsync(runId) == 0, bound, $"every job of {runId} to finish");
        var report = await ClusterInvariants.CheckAsync(Database, runId);
        Assert.True(report.Holds, $"{report}\n{Logs()}");
        return report;
    }

    /// <summary>The queue depth a silo's API reports, which must equal the database's Queued count: there is no other queue.</summary>
    public async Task<long> ApiQueueDepthAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var silo in Silos.Where(s => !s.HasExited))
        {
            using var response = await http.GetAsync(new Uri(silo.DashboardUrl, "api/cluster"));
            if (response.IsSuccessStatusCode)
            {
                return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("queue_depth").GetInt64();
            }
        }
        return -1; // no silo answered yet: the caller polls
    }
}

[CollectionDefinition(Name)]
public sealed class FaultCollection : ICollectionFixture<FaultFixture>
{
    public const string Name = "faults";
}
