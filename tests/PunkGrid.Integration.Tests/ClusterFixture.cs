using Npgsql;
using PunkGrid.Client;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace PunkGrid.Integration.Tests;

/// <summary>A real cluster: its own PostgreSQL database and two silo processes with a worker each (1 slot).</summary>
public class ClusterFixture : IAsyncLifetime
{
    private readonly PostgresServer server = new();

    public string Postgres { get; private set; } = "";

    public List<SiloProcess> Silos { get; } = [];

    public string Gateways => string.Join(',', Silos.Where(s => !s.HasExited).Select(s => s.Gateway));

    public NpgsqlDataSource Database { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await server.InitializeAsync();
        Postgres = await server.CreateDatabaseAsync("cluster");
        Database = NpgsqlDataSource.Create(Postgres);
        Silos.Add(await SiloProcess.StartAsync(Postgres, "silo-a", slots: 1));
        Silos.Add(await SiloProcess.StartAsync(Postgres, "silo-b", slots: 1));
    }

    public async Task DisposeAsync()
    {
        foreach (var silo in Silos)
        {
            await silo.DisposeAsync();
        }
        await Database.DisposeAsync();
        await server.DisposeAsync();
    }

    /// <summary>Runs the real CLI in-process against this cluster's gateways.</summary>
    public async Task<(int Exit, string Out, string Error)> Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await PunkGridCommandLine.RunAsync([.. args, "--gateway", Gateways], stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    public async Task<long> CountAsync(string sql, string jobOrRun)
    {
        await using var command = Database.CreateCommand(sql);
        command.Parameters.AddWithValue("id", jobOrRun);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    public async Task<string> ScalarAsync(string sql, string id)
    {
        await using var command = Database.CreateCommand(sql);
        command.Parameters.AddWithValue("id", id);
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }

    /// <summary>Polls until <paramref name="condition"/> holds or the time is up (then fails with the silo logs' tails).</summary>
    public async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return;
            }
            await Task.Delay(500);
        }
        var logs = string.Join("\n", Silos.Select(s => $"--- {s.Name}:\n{string.Join('\n', File.ReadLines(s.LogPath).TakeLast(30))}"));
        Assert.Fail($"timed out after {timeout.TotalSeconds:F0}s waiting for {what}\n{logs}");
    }

    /// <summary>Replaces every killed silo with a fresh one under a new name, so each kill test starts with two workers.</summary>
    public async Task ReplaceExitedSilosAsync()
    {
        foreach (var dead in Silos.Where(s => s.HasExited).ToList())
        {
            await dead.DisposeAsync();
            Silos[Silos.IndexOf(dead)] = await SiloProcess.StartAsync(Postgres, $"{dead.Name}-{Guid.NewGuid().ToString("N")[..4]}", slots: 1);
        }
    }

    public Task<string> StateOfAsync(string jobId) => ScalarAsync("select state from jobs where job_id = @id", jobId);
}

public sealed class KillFixture : ClusterFixture;

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}

[CollectionDefinition(Name)]
public sealed class KillCollection : ICollectionFixture<KillFixture>
{
    public const string Name = "kill";
}
