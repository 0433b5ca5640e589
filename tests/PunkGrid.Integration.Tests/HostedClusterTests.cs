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
        await cluster.ResetAsync();
        var run = $"hosted-{Guid.NewGuid():N}"[..15];
        var (code, output) = await cluster.CliAsync(Cli, "submit", "noop", "--set", "jobs=9", "--set", "duration_ms=2000", "--run-id", run);
        Assert.True(code == 0, output);
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from jobs where run_id = @id and state = 'Succeeded'", run) == 9,
            TimeSpan.FromMinutes(2), "nine noop jobs to succeed");
        var report = await ClusterInvariants.CheckAsync(cluster.Database, run);
        Assert.True(report.Holds, $"{report}\n{cluster.Logs()}");
        // Every silo host ran jobs, each under its own address (the worker id names it).
        foreach (var silo in cluster.Silos)
        {
            Assert.True(await cluster.CountAsync($"select count(*) from job_events where job_id like @id || '%' and worker_id like '{silo.Host}@{silo.Address}:%'", run) > 0,
                $"no job of {run} ran on {silo.Host} ({silo.Address})\n{cluster.Logs()}");
        }

        var (listed, table) = await cluster.CliAsync(Cli, "status", run);
        Assert.True(listed == 0, table);
        Assert.Contains("9 succeeded", table);

        // (i) The CLI's host loses its link to one silo host: the next command answers through the other gateway.
        await cluster.Hosts.CutAsync("op", "s1");
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var (after, again) = await cluster.CliAsync(Cli, "status", run);
            Assert.True(after == 0, again);
            Assert.Contains("9 succeeded", again);
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
        await cluster.ResetAsync();
        // (g) s1 reaches s2 and op, not db, for longer than a lease (6 s): its job is leased again on s2 or s3 and finishes once
        // there; healed, s1's superseded attempt writes nothing (the checker looks for anything it stored).
        var (run, _) = await ThreeJobsOneOnS1Async("g", epochs: 4, durationMs: 16000);

        await cluster.Hosts.CutAsync("s1", "db");
        try
        {
            await cluster.WaitUntilAsync(async () => await cluster.CountAsync(
                "select count(*) from job_events where job_id like @id || '%' and detail like 'lease expired%'", run) >= 1,
                TimeSpan.FromSeconds(60), "s1's lease to be lost while it is cut off");
            await Task.Delay(TimeSpan.FromSeconds(4)); // s1 still cut off, its superseded attempt still running in there
        }
        finally
        {
            await cluster.Hosts.HealAsync("s1");
        }

        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from jobs where run_id = @id and state = 'Succeeded'", run) == 3,
            TimeSpan.FromMinutes(3), "the three jobs to succeed");
        var report = await ClusterInvariants.CheckAsync(cluster.Database, run);
        Assert.True(report.Holds, $"{report}\n{cluster.Logs()}");
        Assert.True(report.LostLeases >= 1, report.ToString());
        Assert.Equal(0, report.Failures); // infrastructure costs time, not attempts
    }

    [HostsFact]
    public async Task A_silo_cut_from_its_peers_but_not_from_the_database_is_declared_dead_and_its_jobs_finish_once_while_the_others_answer()
    {
        await cluster.ResetAsync();
        // (h) s1 reaches db and op, not s2 or s3. Membership declares it dead (s2's and s3's probes, direct and through each
        // other, fail; s1's own probes through a peer are "unknown", so it votes no one dead); Orleans stops a silo told it is
        // dead, and its jobs' leases run out and are taken elsewhere. Throughout, op's CLI and s2's dashboard answer.
        // Healed, s1 starts again on its address as a supervisor would: a new incarnation joins.
        var (run, s1) = await ThreeJobsOneOnS1Async("h", epochs: 8, durationMs: 40000);
        var generations = await cluster.CountAsync("select count(*) from cluster_members where address = @id", s1.Address);

        await cluster.Hosts.CutAsync("s1", "s2", "s3");
        var answers = new List<string>();
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(90);
            var declared = false;
            while (!(declared && s1.HasExited) && DateTime.UtcNow < deadline)
            {
                // The other hosts keep answering: every round, op's CLI and s2's dashboard.
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var (status, table) = await cluster.CliAsync(Cli, "status", run);
                Assert.True(status == 0, $"the CLI failed while s1 was cut from its peers: {table}\n{cluster.Logs()}");
                var (curl, body) = await cluster.DashboardAsync("s2", "/api/cluster", TimeSpan.FromSeconds(20));
                Assert.True(curl == 0, $"s2's dashboard failed while s1 was cut from its peers: {body}\n{cluster.Logs()}");
                answers.Add($"{clock.Elapsed.TotalSeconds:F1} s");
                declared = await cluster.CountAsync("select count(*) from cluster_members where address = @id and status = 6", s1.Address) > 0;
            }
            Assert.True(declared, $"s1 was not declared dead in 90 s\n{cluster.Logs()}");
            Assert.True(s1.HasExited, $"s1 did not stop after it was declared dead\n{cluster.Logs()}");
        }
        finally
        {
            await cluster.Hosts.HealAsync("s1");
        }

        // Back on its address (the test acts as the supervisor that restarts a stopped service): a new incarnation.
        var again = await cluster.RestartAsync("s1");
        Assert.Equal(generations + 1, await cluster.CountAsync("select count(*) from cluster_members where address = @id", again.Address));

        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from jobs where run_id = @id and state = 'Succeeded'", run) == 3,
            TimeSpan.FromMinutes(3), "the three jobs to succeed");
        var report = await ClusterInvariants.CheckAsync(cluster.Database, run);
        Assert.True(report.Holds, $"{report}\n{cluster.Logs()}");
        Assert.True(report.LostLeases >= 1, report.ToString()); // s1's job was leased again after s1 stopped
        Assert.Equal(0, report.Failures);
        Assert.NotEmpty(answers);
    }

    [HostsFact]
    public async Task Every_silo_cut_from_the_database_for_less_than_a_lease_spends_no_attempt()
    {
        await cluster.ResetAsync();
        // (j) db loses its link to every silo for 4.5 s: longer than the lease clock's outage gap (3 s), shorter than a lease
        // (6 s). Packets are dropped, so statements sent in the cut arrive only when TCP retransmits them after it. No lease
        // is lost: every job finishes at attempt 1, nothing counted against it.
        var run = $"hosted-j-{Guid.NewGuid():N}"[..15];
        var (code, output) = await cluster.CliAsync(Cli, "submit", "noop", "--set", "jobs=3", "--set", "epochs=4", "--set", "duration_ms=12000",
            "--set", "checkpoint_bytes=4096", "--run-id", run);
        Assert.True(code == 0, output);
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from jobs where run_id = @id and state = 'Running'", run) == 3,
            TimeSpan.FromMinutes(1), "the run's three jobs running, one on each silo");

        await cluster.Hosts.CutAsync("db", cluster.SiloHosts);
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(4.5));
        }
        finally
        {
            await cluster.Hosts.HealAsync("db");
        }

        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from jobs where run_id = @id and state = 'Succeeded'", run) == 3,
            TimeSpan.FromMinutes(2), "the three jobs to succeed");
        var report = await ClusterInvariants.CheckAsync(cluster.Database, run);
        Assert.True(report.Holds, $"{report}\n{cluster.Logs()}");
        Assert.Equal(1, report.MaxAttempt);
        Assert.Equal(0, report.LostLeases);
        Assert.Equal(0, report.Failures);
    }

    /// <summary>The partition scenarios' start: three noop jobs with checkpoints (one per silo), one of them running on s1.</summary>
    private async Task<(string Run, HostedSilo S1)> ThreeJobsOneOnS1Async(string scenario, int epochs, int durationMs)
    {
        var run = $"hosted-{scenario}-{Guid.NewGuid():N}"[..15];
        var (code, output) = await cluster.CliAsync(Cli, "submit", "noop", "--set", "jobs=3", "--set", $"epochs={epochs}", "--set", $"duration_ms={durationMs}",
            "--set", "checkpoint_bytes=4096", "--run-id", run);
        Assert.True(code == 0, output);
        var s1 = cluster.Silo("s1");
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync(
            $"select count(*) from jobs where run_id = @id and state = 'Running' and worker_id like 's1@{s1.Address}:%'", run) == 1,
            TimeSpan.FromMinutes(1), "a job of the run running on s1");
        return (run, s1);
    }
}
