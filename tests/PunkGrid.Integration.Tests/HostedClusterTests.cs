namespace PunkGrid.Integration.Tests;

/// <summary>
/// The cluster on hosts of its own (issue 29): silos on their own addresses, the CLI on another host, links cut under it.
/// Every scenario ends with the fault suite's invariant checker.
/// </summary>
[Collection(HostedCollection.Name)]
public class HostedClusterTests(HostedCluster cluster)
{
    private static readonly TimeSpan Cli = TimeSpan.FromSeconds(60);

    [HostsFact]
    public async Task A_run_spreads_over_the_silo_hosts_and_the_CLI_answers_from_its_own_host_through_a_gateway_it_can_reach()
    {
        var run = $"hosted-{Guid.NewGuid():N}"[..15];
        var (code, output) = await cluster.CliAsync(Cli, "submit", "noop", "--set", "jobs=6", "--set", "duration_ms=2000", "--run-id", run);
        Assert.True(code == 0, output);
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from jobs where run_id = @id and state = 'Succeeded'", run) == 6,
            TimeSpan.FromMinutes(2), "six noop jobs to succeed");
        var report = await ClusterInvariants.CheckAsync(cluster.Database, run);
        Assert.True(report.Holds, $"{report}\n{cluster.Logs()}");
        // Both silo hosts ran jobs, each under its own address (the worker id names it).
        foreach (var silo in cluster.Silos)
        {
            Assert.True(await cluster.CountAsync($"select count(*) from job_events where job_id like @id || '%' and worker_id like '{silo.Host}@{silo.Address}:%'", run) > 0,
                $"no job of {run} ran on {silo.Host} ({silo.Address})\n{cluster.Logs()}");
        }

        var (listed, table) = await cluster.CliAsync(Cli, "status", run);
        Assert.True(listed == 0, table);
        Assert.Contains("6 succeeded", table);

        // (i) The CLI's host loses its link to one silo host: the next command answers through the other gateway.
        await cluster.Hosts.CutAsync("op", "s1");
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var (after, again) = await cluster.CliAsync(Cli, "status", run);
            Assert.True(after == 0, again);
            Assert.Contains("6 succeeded", again);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the CLI took {clock.Elapsed.TotalSeconds:F1} s with one gateway cut off");
        }
        finally
        {
            await cluster.Hosts.HealAsync("op");
        }
    }

    [HostsFact]
    public async Task A_silo_cut_from_the_database_but_not_from_its_peers_loses_its_jobs_to_the_others_and_writes_nothing_stale()
    {
        // (g) s1 reaches s2 and op, not db, for longer than a lease (6 s): its job is leased again on s2 and finishes once
        // there; healed, s1's superseded attempt writes nothing (the checker looks for anything it stored).
        var run = $"hosted-g-{Guid.NewGuid():N}"[..15];
        var (code, output) = await cluster.CliAsync(Cli, "submit", "noop", "--set", "jobs=2", "--set", "epochs=4", "--set", "duration_ms=16000",
            "--set", "checkpoint_bytes=4096", "--run-id", run);
        Assert.True(code == 0, output);
        var s1 = cluster.Silos.Single(s => s.Host == "s1");
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync(
            $"select count(*) from jobs where run_id = @id and state = 'Running' and worker_id like 's1@{s1.Address}:%'", run) == 1,
            TimeSpan.FromMinutes(1), "a job of the run running on s1");

        await cluster.Hosts.CutAsync("s1", "db");
        try
        {
            await cluster.WaitUntilAsync(async () => await cluster.CountAsync(
                "select count(*) from job_events where job_id like @id || '%' and detail like 'lease expired%'", run) >= 1,
                TimeSpan.FromSeconds(60), "s1's lease to be lost while it is cut off");
            await Task.Delay(TimeSpan.FromSeconds(4)); // the job runs on s2 while s1 is still cut off
        }
        finally
        {
            await cluster.Hosts.HealAsync("s1");
        }

        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from jobs where run_id = @id and state = 'Succeeded'", run) == 2,
            TimeSpan.FromMinutes(3), "both jobs to succeed");
        var report = await ClusterInvariants.CheckAsync(cluster.Database, run);
        Assert.True(report.Holds, $"{report}\n{cluster.Logs()}");
        Assert.True(report.LostLeases >= 1, report.ToString());
        Assert.Equal(0, report.Failures); // infrastructure costs time, not attempts
    }
}
