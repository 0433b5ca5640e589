using System.Diagnostics;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// Scenario (k) of issue 29 (and issue 30): the database's primary lost for good under running jobs, its synchronous
/// standby promoted; silos and the CLI reach it through the multi-host connection string they already have.
/// </summary>
[Collection(ReplicatedHostedCollection.Name)]
public class HostedFailoverTests(ReplicatedHostedCluster cluster, Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan Cli = TimeSpan.FromSeconds(60);

    [HostsFact]
    public async Task The_primary_killed_and_its_standby_promoted_mid_run_costs_no_attempt_and_loses_nothing_acknowledged()
    {
        var run = $"hosted-k-{Guid.NewGuid():N}"[..15];
        var (code, submitted) = await cluster.CliAsync(Cli, "submit", "noop", "--set", "jobs=4", "--set", "epochs=6", "--set", "duration_ms=24000",
            "--set", "checkpoint_bytes=65536", "--run-id", run);
        Assert.True(code == 0, submitted);
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync(
            "select count(*) from jobs where run_id = @id and state = 'Running' and epoch >= 1", run) == 2,
            TimeSpan.FromMinutes(1), "two jobs of the run past their first checkpoint");
        // Acknowledged just before the failover: a second run (the CLI was told it was stored).
        var late = $"hosted-kl-{Guid.NewGuid():N}"[..15];
        (code, submitted) = await cluster.CliAsync(Cli, "submit", "noop", "--set", "jobs=1", "--set", "epochs=2", "--set", "duration_ms=2000", "--run-id", late);
        Assert.True(code == 0, submitted);
        // What the primary holds now (every row a reader sees is one the standby acknowledged: synchronous commit).
        // A job keeps its last checkpoints (and its best), so the newest epoch each job has checkpointed is what must survive.
        const string NewestCheckpoints = "select job_id || ' ' || max(epoch) from checkpoints where job_id like @id || '%' group by job_id";
        var checkpoints = await KeysAsync(NewestCheckpoints, run);
        var succeeded = await KeysAsync("select job_id from jobs where run_id like @id || '%' and state = 'Succeeded'", "hosted-k");
        Assert.NotEmpty(checkpoints);

        await cluster.FailOverAsync(beforePromotion: TimeSpan.FromSeconds(2));
        var clock = Stopwatch.StartNew();
        // Nothing acknowledged lost: the late run, every success, each job's newest checkpoint (or a newer one).
        var after = (await KeysAsync(NewestCheckpoints, run)).Select(k => k.Split(' ')).ToDictionary(k => k[0], k => int.Parse(k[1], System.Globalization.CultureInfo.InvariantCulture));
        foreach (var key in checkpoints.Select(k => k.Split(' ')))
        {
            Assert.True(after.TryGetValue(key[0], out var epoch) && epoch >= int.Parse(key[1], System.Globalization.CultureInfo.InvariantCulture),
                $"{key[0]}'s checkpoint of epoch {key[1]} was acknowledged and is gone after the failover");
        }
        Assert.Equal(1, await cluster.CountAsync("select count(*) from runs where run_id = @id", late));
        Assert.Empty(succeeded.Except(await KeysAsync("select job_id from jobs where run_id like @id || '%' and state = 'Succeeded'", "hosted-k")));

        // Right after the promotion, the CLI on op (same connection string, a fresh process) answers within seconds.
        var (status, table) = await cluster.CliAsync(Cli, "status", run);
        var answered = clock.Elapsed;
        Assert.True(status == 0, $"the CLI failed right after the promotion: {table}\n{cluster.Logs()}");
        output.WriteLine($"the CLI on op answered {answered.TotalSeconds:F1} s after the promotion");
        Assert.True(answered < TimeSpan.FromSeconds(10), $"the CLI took {answered.TotalSeconds:F1} s after the promotion\n{table}\n{cluster.Logs()}");

        foreach (var id in new[] { run, late })
        {
            var total = id == run ? 4 : 1;
            await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from jobs where run_id = @id and state = 'Succeeded'", id) == total,
                TimeSpan.FromMinutes(3), $"every job of {id} to succeed on the promoted standby");
        }
        var report = await ClusterInvariants.CheckAsync(cluster.Database, run, late);
        Assert.True(report.Holds, $"{report}\n{cluster.Logs()}");
        // Infrastructure costs time, not attempts: no lease lost, no failure, every job at its first attempt...
        Assert.Equal(1, report.MaxAttempt);
        Assert.Equal(0, report.LostLeases);
        Assert.Equal(0, report.Failures);
        // ...and no job stopped and started again from a checkpoint on its worker (issue 30's "failed (retryable)").
        var logs = string.Join('\n', cluster.Silos.Select(s => File.ReadAllText(s.LogPath)));
        Assert.DoesNotContain("failed (retryable)", logs);
        foreach (var job in await KeysAsync("select job_id from jobs where run_id = @id", run))
        {
            Assert.Equal(1, logs.Split('\n').Count(line => line.Contains($"Job {job} attempt 1: starting", StringComparison.Ordinal)));
        }
    }

    private async Task<IReadOnlyList<string>> KeysAsync(string sql, string id)
    {
        await using var command = cluster.Database.CreateCommand(sql);
        command.Parameters.AddWithValue("id", id);
        var keys = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            keys.Add(reader.GetString(0));
        }
        return keys;
    }
}
