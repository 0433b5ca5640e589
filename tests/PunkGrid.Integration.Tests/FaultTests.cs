using PunkGrid.Client;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// The faults that break orchestrators in production, against real PostgreSQL and real silo processes, each followed by
/// the invariant checker (<see cref="PunkGrid.Tests.Shared.ClusterInvariants"/>): every job terminal within a bound after
/// the fault ends, never two attempts Running at once, only the winning attempt's outputs, no write from an attempt after
/// it ended, every epoch reported, and no queue but the database's.
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class FaultTests(FaultFixture cluster)
{
    /// <summary>How long after the last fault every job must be terminal (jobs are a few seconds long; leases time out in 6 s).</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);

    private async Task<SiloProcess> SiloRunningAJobOfAsync(string runId)
    {
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync(
            "select count(*) from checkpoints c join jobs j using (job_id) where j.run_id = @id", runId) > 0, TimeSpan.FromSeconds(60), $"a first checkpoint in {runId}");
        await using var command = cluster.Database.CreateCommand("select worker_id from jobs where run_id = @id and state = 'Running' order by job_id limit 1");
        command.Parameters.AddWithValue("id", runId);
        var worker = (string)(await command.ExecuteScalarAsync())!;
        return cluster.Silos.Single(s => worker.StartsWith(s.Name + "@", StringComparison.Ordinal));
    }

    private async Task AssertTheQueueIsTheDatabasesAsync() =>
        await cluster.WaitUntilAsync(async () => await cluster.ApiQueueDepthAsync() == await cluster.CountAsync("select count(*) from jobs where state = 'Queued' and @id = @id", ""),
            TimeSpan.FromSeconds(10), "the API's queue depth to equal the database's Queued count");

    /// <summary>
    /// The scenario that stalled the old in-memory queue for good: a silo killed, then PostgreSQL stopped for longer than the
    /// lease timeout and started again on its port, then the dead silo back on its old address. All jobs finish; the kill costs
    /// its jobs one lost lease, the outage costs nothing: no job past attempt 2, no failure counted. A CLI command during the
    /// outage ends with the database's error and exit 3.
    /// </summary>
    [Fact]
    public async Task A_kill_then_a_database_restart_then_the_node_back_on_its_address_loses_nothing()
    {
        await cluster.EnsureSilosAsync();
        const string run = "fault-a";
        await cluster.SubmitNoopAsync(run, jobs: 8, durationMs: 8000, epochs: 4);
        var victim = await SiloRunningAJobOfAsync(run);
        victim.Kill();
        await Task.Delay(FaultFixture.LeaseTimeout + TimeSpan.FromSeconds(1)); // its leases expire; the survivor takes over

        await cluster.Server.StopAsync();
        var outage = System.Diagnostics.Stopwatch.StartNew();
        // An operator asks meanwhile: the grain waits for the database (10 s), then says so — exit 3, nothing crashes.
        var (exit, _, error) = await cluster.Cli("status", run);
        Assert.Equal(PunkGridCommandLine.Unreachable, exit);
        Assert.Contains("the cluster's database did not answer", error);
        // Longer than a lease: only the lease clock saves the survivor's.
        var left = FaultFixture.LeaseTimeout + TimeSpan.FromSeconds(2) - outage.Elapsed;
        await Task.Delay(left > TimeSpan.Zero ? left : TimeSpan.Zero);
        await cluster.Server.StartAsync();
        await Task.Delay(TimeSpan.FromSeconds(3));

        var back = await cluster.StartSiloAsync(victim.Name, victim.Addresses);
        cluster.Silos[cluster.Silos.IndexOf(victim)] = back;
        await victim.DisposeAsync();

        var report = await cluster.FinishAndCheckAsync(run, Bound);
        Assert.Equal(8, report.ByState.GetValueOrDefault("Succeeded"));
        Assert.True(report.MaxAttempt <= 2, report.ToString());
        Assert.Equal(0, report.Failures);
        await AssertTheQueueIsTheDatabasesAsync();
    }

    /// <summary>
    /// A silo killed while jobs are queued and running (there is no scheduler grain to lose: the queue is the database): the
    /// survivor leases queued work within seconds and picks up the dead silo's jobs after one lease timeout.
    /// </summary>
    [Fact]
    public async Task Killing_a_silo_while_jobs_are_queued_and_running_stalls_nothing()
    {
        await cluster.EnsureSilosAsync();
        const string run = "fault-b";
        await cluster.SubmitNoopAsync(run, jobs: 8, durationMs: 4000, epochs: 2);
        var victim = await SiloRunningAJobOfAsync(run);
        var survivor = cluster.Silos.Single(s => s != victim && !s.HasExited);
        Assert.True(await cluster.CountAsync("select count(*) from jobs where run_id = @id and state = 'Queued'", run) > 0, "jobs should still be queued");
        victim.Kill();
        var killedAt = await cluster.DatabaseNowAsync();
        await AssertTheQueueIsTheDatabasesAsync();

        // A slot of the survivor frees within a job's length: it leases queued work at once, without waiting for the dead silo's leases.
        await cluster.WaitUntilAsync(async () =>
        {
            await using var command = cluster.Database.CreateCommand(
                "select count(*) from job_events e join jobs j using (job_id) where j.run_id = @run and e.to_state = 'Running' and e.at > @at and starts_with(e.worker_id, @survivor)");
            command.Parameters.AddWithValue("run", run);
            command.Parameters.AddWithValue("at", killedAt);
            command.Parameters.AddWithValue("survivor", survivor.Name + "@");
            return (long)(await command.ExecuteScalarAsync())! > 0;
        }, TimeSpan.FromSeconds(10), "the survivor to lease queued work");
        var report = await cluster.FinishAndCheckAsync(run, Bound);
        Assert.Equal(8, report.ByState.GetValueOrDefault("Succeeded"));
        Assert.True(report.LostLeases is >= 1 and <= 2, report.ToString());
        Assert.Equal(0, report.Failures);
    }

    /// <summary>PostgreSQL frozen (SIGSTOP) for longer than the lease timeout: training pauses, nothing is lost, no attempt is spent.</summary>
    [Fact]
    public async Task A_database_paused_past_the_lease_timeout_costs_no_attempt()
    {
        await cluster.EnsureSilosAsync();
        const string run = "fault-c";
        await cluster.SubmitNoopAsync(run, jobs: 4, durationMs: 6000, epochs: 3);
        await SiloRunningAJobOfAsync(run);
        await cluster.Server.PauseAsync();
        try
        {
            await Task.Delay(FaultFixture.LeaseTimeout + TimeSpan.FromSeconds(4));
        }
        finally
        {
            await cluster.Server.ResumeAsync();
        }
        var report = await cluster.FinishAndCheckAsync(run, Bound);
        Assert.Equal(4, report.ByState.GetValueOrDefault("Succeeded"));
        Assert.Equal((1, 0, 0), (report.MaxAttempt, report.LostLeases, report.Failures));
        Assert.True(await cluster.CountAsync("select count(*) from job_events where to_state = 'Running' and @id = @id", "") >= 4);
        Assert.All(cluster.Silos, s => Assert.False(s.HasExited, $"{s.Name} died in the outage"));
    }

    /// <summary>
    /// A worker silo frozen (SIGSTOP) past its lease timeout, then thawed: its jobs finish exactly once on the other silo, and
    /// the thawed attempts write nothing more (no checkpoint, metric, artifact or result after their leases were lost).
    /// </summary>
    [Fact]
    public async Task A_frozen_worker_thawed_after_its_leases_were_lost_writes_nothing()
    {
        await cluster.EnsureSilosAsync();
        const string run = "fault-d";
        await cluster.SubmitNoopAsync(run, jobs: 2, durationMs: 8000, epochs: 4);
        var frozen = await SiloRunningAJobOfAsync(run);
        var frozenJobs = await cluster.CountAsync("select count(*) from jobs where run_id = @id and state = 'Running' and starts_with(worker_id, '" + frozen.Name + "@')", run);
        frozen.Freeze();
        try
        {
            // Its leases expire and the other silo takes the jobs over.
            await cluster.WaitUntilAsync(async () => await cluster.CountAsync(
                "select count(*) from job_events e join jobs j using (job_id) where j.run_id = @id and e.from_state = 'Running' and e.detail like 'lease expired%'", run) >= frozenJobs,
                TimeSpan.FromSeconds(30), "the frozen worker's leases to expire");
        }
        finally
        {
            frozen.Thaw();
        }
        var report = await cluster.FinishAndCheckAsync(run, Bound); // includes: no write by an attempt after it ended
        Assert.Equal(2, report.ByState.GetValueOrDefault("Succeeded"));
        Assert.Equal(frozenJobs, report.LostLeases);
        // Depending on how long it was frozen, the thawed silo is a member again or (declared dead by the others) on its way
        // out; either way the next scenario starts from two fresh silos.
        frozen.Kill();
        await cluster.EnsureSilosAsync();
        // Whatever the thawed process did before it noticed (or before Orleans told it it had been declared dead), nothing landed.
        Assert.Equal(0, await cluster.CountAsync(
            "select count(*) from artifacts a join jobs j using (job_id) where j.run_id = @id and a.attempt <> j.attempt", run));
    }

    /// <summary>Every silo killed; one restarted later on its old address, one elsewhere: every job finishes.</summary>
    [Fact]
    public async Task Every_silo_killed_and_restarted_later_loses_nothing()
    {
        await cluster.EnsureSilosAsync();
        const string run = "fault-e";
        await cluster.SubmitNoopAsync(run, jobs: 6, durationMs: 6000, epochs: 3);
        await SiloRunningAJobOfAsync(run);
        var dead = cluster.Silos.ToList();
        foreach (var silo in dead)
        {
            silo.Kill();
        }
        await Task.Delay(TimeSpan.FromSeconds(8));
        cluster.Silos.Clear();
        cluster.Silos.Add(await cluster.StartSiloAsync(dead[0].Name, dead[0].Addresses)); // back on its address: takes over at once
        foreach (var silo in dead)
        {
            await silo.DisposeAsync();
        }
        var report = await cluster.FinishAndCheckAsync(run, Bound);
        Assert.Equal(6, report.ByState.GetValueOrDefault("Succeeded"));
        Assert.True(report.MaxAttempt <= 2, report.ToString());
        await cluster.EnsureSilosAsync();
    }

    /// <summary>
    /// A worker killed while the database executes its large checkpoint write (held there by a lock the test takes on the
    /// checkpoints table, so the kill lands mid-write every time): the write commits whole or not at all, nothing corrupt is stored, no lock is
    /// left behind, and the job resumes elsewhere from its last complete checkpoint.
    /// </summary>
    [Fact]
    public async Task A_worker_killed_during_a_large_checkpoint_write_leaves_no_torn_checkpoint()
    {
        await cluster.EnsureSilosAsync();
        const string run = "fault-f";
        const string job = run + ".noop";
        await cluster.SubmitNoopAsync(run, jobs: 1, durationMs: 6000, epochs: 3, "--set", $"checkpoint_bytes={48 << 20}");
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from checkpoints where job_id = @id", job) >= 1,
            TimeSpan.FromSeconds(60), "the first checkpoint");

        await using (var holder = await cluster.Database.OpenConnectionAsync())
        {
            // Hold the checkpoints table (SHARE: readers go on, inserts wait) so the next checkpoint write waits inside the server, mid-statement.
            await using var transaction = await holder.BeginTransactionAsync();
            await using (var lockTable = new Npgsql.NpgsqlCommand("lock table checkpoints in share mode", holder, transaction))
            {
                await lockTable.ExecuteNonQueryAsync();
            }
            await cluster.WaitUntilAsync(async () => await cluster.CountAsync(
                "select count(*) from pg_stat_activity where query like '%insert into checkpoints%' and wait_event_type = 'Lock' and @id = @id", "") > 0,
                TimeSpan.FromSeconds(30), "the second checkpoint write to be in flight");
            await using var command = cluster.Database.CreateCommand("select worker_id from jobs where job_id = @id");
            command.Parameters.AddWithValue("id", job);
            var worker = (string)(await command.ExecuteScalarAsync())!;
            cluster.Silos.Single(s => worker.StartsWith(s.Name + "@", StringComparison.Ordinal)).Kill();
            await transaction.RollbackAsync();
        }

        var report = await cluster.FinishAndCheckAsync(run, Bound);
        Assert.Equal(1, report.ByState.GetValueOrDefault("Succeeded"));
        Assert.Equal(1, report.LostLeases);
        // Every stored checkpoint is whole: its size and SHA-256 match its bytes.
        Assert.Equal(0, await cluster.CountAsync(
            "select count(*) from checkpoints where job_id = @id and (length(data) <> size_bytes or sha256(data) <> sha256)", job));
        Assert.Equal(0, await cluster.CountAsync("select count(*) from pg_locks l join pg_stat_activity a using (pid) where a.query like '%insert into checkpoints%' and a.pid <> pg_backend_pid() and @id = @id", ""));
        // The second attempt resumed from a checkpoint, not from scratch.
        Assert.True(await cluster.CountAsync("select min(epoch) from metrics where job_id = @id and attempt = 2 and name = 'epoch_seconds'", job) >= 2);
        await cluster.EnsureSilosAsync();
    }

    /// <summary>
    /// A job that kills every worker that runs it is quarantined (Failed, with the reason) after 2 crashes, instead of taking
    /// down worker after worker — and only it: the jobs that shared a process with it when it struck first finish.
    /// </summary>
    [Fact]
    public async Task A_job_that_keeps_killing_its_workers_is_quarantined_alone()
    {
        await cluster.EnsureSilosAsync();
        const string mates = "fault-poison-mates";
        const string run = "fault-poison";
        const string job = run + ".noop";
        // Three ordinary jobs of one long epoch (no checkpoint for 12 s), then the poison: one silo runs it beside one of them.
        await cluster.SubmitNoopAsync(mates, jobs: 3, durationMs: 12000, epochs: 1);
        await cluster.WaitUntilAsync(async () => await cluster.RunningAsync(mates) == 3, TimeSpan.FromSeconds(30), "the three jobs to start");
        await cluster.SubmitNoopAsync(run, jobs: 1, durationMs: 2000, epochs: 2, "--set", "fault=exit-process", "--set", "fault_at_epoch=1");
        // The poison kills one silo after another; bring them back as an operator's supervisor would, until it is quarantined.
        await cluster.WaitUntilAsync(async () =>
        {
            if (cluster.Silos.All(s => s.HasExited))
            {
                await cluster.EnsureSilosAsync();
            }
            return await cluster.CountAsync("select count(*) from jobs where job_id = @id and state = 'Failed'", job) == 1;
        }, TimeSpan.FromSeconds(150), "the poison job to be quarantined");
        var detail = await cluster.Cli("status", job);
        Assert.Contains("quarantined: 2 attempts in a row lost their worker before saving a checkpoint", detail.Out);
        Assert.Equal(0, await cluster.CountAsync("select failures from jobs where job_id = @id", job));
        await cluster.EnsureSilosAsync();
        var report = await cluster.FinishAndCheckAsync(run, Bound);
        Assert.Equal(1, report.Quarantined);

        // The poison's first death took a run-mate with it (both suspects then); each ran alone after that, so the poison's
        // next death was counted against it only, and the mate finished.
        var mateReport = await cluster.FinishAndCheckAsync(mates, Bound);
        Assert.Equal((3, 0), (mateReport.ByState.GetValueOrDefault("Succeeded"), mateReport.Quarantined));
        Assert.True(await cluster.CountAsync("select count(*) from jobs where run_id = @id and lost_leases > 0", mates) >= 1,
            "no run-mate shared a process with the poison job");
    }

    /// <summary>
    /// A silo stopped gracefully (SIGTERM) while its slots are full hands its jobs back and leases none again on its way out:
    /// each hand-back frees a slot and wakes the worker loop, which once took the job straight back and died with it
    /// (a lost lease, a counted crash). Nothing is counted against the jobs; they finish on the other silo.
    /// </summary>
    [Fact]
    public async Task A_silo_stopped_gracefully_hands_its_jobs_back_and_takes_none_on_its_way_out()
    {
        await cluster.EnsureSilosAsync();
        const string run = "fault-graceful";
        await cluster.SubmitNoopAsync(run, jobs: 6, durationMs: 8000, epochs: 4);
        await cluster.WaitUntilAsync(async () => await cluster.RunningAsync(run) == 4, TimeSpan.FromSeconds(30), "both silos' slots to fill");
        var stopped = cluster.Silos[0];
        await stopped.StopGracefullyAsync(TimeSpan.FromSeconds(60));
        var handedBack = await cluster.CountAsync(
            "select count(*) from job_events where job_id like @id || '.%' and detail = 'worker stopped: handed back'", run);
        Assert.True(handedBack >= 1, $"no job handed back\n{cluster.Logs()}");
        // No job was leased by the stopping silo's worker after its first hand-back.
        Assert.Equal(0, await cluster.CountAsync(
            """
            select count(*) from job_events l where l.job_id like 'fault-graceful.%' and l.detail = 'leased' and starts_with(l.worker_id, @id || '@')
            and l.id > (select min(h.id) from job_events h where h.job_id like 'fault-graceful.%' and h.detail = 'worker stopped: handed back')
            """, stopped.Name));
        await cluster.EnsureSilosAsync();
        var report = await cluster.FinishAndCheckAsync(run, Bound);
        Assert.Equal((6, 0, 0), (report.ByState.GetValueOrDefault("Succeeded"), report.LostLeases, report.Failures));
    }

    /// <summary>A trainer that fails every attempt is Failed after MaxFailures (3), its error kept; lost leases play no part.</summary>
    [Fact]
    public async Task A_failing_trainer_spends_its_failure_budget_and_nothing_else()
    {
        await cluster.EnsureSilosAsync();
        const string run = "fault-throw";
        await cluster.SubmitNoopAsync(run, jobs: 1, durationMs: 500, epochs: 1, "--set", "fault=throw");
        var report = await cluster.FinishAndCheckAsync(run, Bound);
        Assert.Equal(1, report.ByState.GetValueOrDefault("Failed"));
        Assert.Equal((3, 3, 0), (report.MaxAttempt, report.Failures, report.LostLeases));
        Assert.Contains("noop job asked to fail at epoch 1", (await cluster.Cli("status", run + ".noop")).Out);

        // Its log says what happened, attempt by attempt: each start, and the exception that ended it with its stack.
        const string job = run + ".noop";
        var log = await cluster.Cli("logs", job);
        Assert.True(log.Exit == 0, log.Error);
        foreach (var attempt in new[] { 1, 2, 3 })
        {
            Assert.Contains($"#{attempt} Information worker  Job {job} attempt {attempt}: starting from", log.Out);
            Assert.Contains($"#{attempt} Error       worker  Job {job} attempt {attempt} failed (retryable): InvalidOperationException: noop job asked to fail at epoch 1", log.Out);
        }
        Assert.Contains("System.InvalidOperationException: noop job asked to fail at epoch 1 (fault=throw)", log.Out);
        Assert.Contains("   at PunkGrid.Training.Trainers.NoopTrainer.Train(", log.Out);
        Assert.DoesNotContain("(superseded)", log.Out);

        var second = await cluster.Cli("logs", job, "--attempt", "2", "--json");
        var lines = second.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
        Assert.NotEmpty(lines);
        Assert.All(lines, l => Assert.Equal(2, l.GetProperty("attempt").GetInt32()));
        Assert.Contains(lines, l => l.GetProperty("level").GetString() == "Error" && l.GetProperty("message").GetString()!.Contains("   at ", StringComparison.Ordinal));

        // --follow on an ended job prints what is there and ends.
        var followed = await cluster.Cli("logs", job, "--follow", "--tail", "2");
        Assert.True(followed.Exit == 0, followed.Error);
        Assert.Contains("(job fault-throw.noop is Failed)", followed.Error);
    }

    /// <summary>
    /// With the silo a client was told about dead, the CLI still finds the cluster: through the membership table
    /// (<c>--postgres</c>, or <c>PUNKGRID__Postgres</c> as the demo's cluster.env sets it), with no gateway flag at all. The
    /// short name from before, <c>PUNKGRID_PG</c>, still works, with a warning.
    /// </summary>
    [Fact]
    public async Task The_cli_finds_the_live_silos_when_the_gateway_it_knows_is_dead()
    {
        await cluster.EnsureSilosAsync();
        var dead = cluster.Silos[0];
        dead.Kill();
        string[] variables = ["PUNKGRID__Postgres", "PUNKGRID__Gateways", "PUNKGRID__Tls__Directory", "PUNKGRID_PG"];
        var saved = variables.ToDictionary(v => v, Environment.GetEnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable("PUNKGRID__Tls__Directory", TestCertificates.Directory); // as the demo's cluster.env sets it
            Environment.SetEnvironmentVariable("PUNKGRID__Gateways", dead.Gateway);
            Environment.SetEnvironmentVariable("PUNKGRID__Postgres", null);
            Environment.SetEnvironmentVariable("PUNKGRID_PG", null);
            var stderr = new StringWriter();
            Assert.Equal(PunkGridCommandLine.Unreachable, await PunkGridCommandLine.RunAsync(["runs"], new StringWriter(), stderr));
            Assert.Contains($"PUNKGRID__Gateways: {dead.Gateway}", stderr.ToString());

            var explicitly = new StringWriter();
            var explicitError = new StringWriter();
            Assert.True(await PunkGridCommandLine.RunAsync(["--postgres", cluster.Postgres, "runs", "--json"], explicitly, explicitError) == 0, explicitError.ToString());
            Assert.Equal(System.Text.Json.JsonValueKind.Array, System.Text.Json.JsonDocument.Parse(explicitly.ToString()).RootElement.ValueKind);

            Environment.SetEnvironmentVariable("PUNKGRID__Postgres", cluster.Postgres);
            var noFlags = new StringWriter();
            var error = new StringWriter();
            Assert.True(await PunkGridCommandLine.RunAsync(["runs"], noFlags, error) == 0, error.ToString());
            Assert.DoesNotContain("warning", error.ToString());

            Environment.SetEnvironmentVariable("PUNKGRID__Postgres", null);
            Environment.SetEnvironmentVariable("PUNKGRID_PG", cluster.Postgres);
            var legacy = new StringWriter();
            Assert.True(await PunkGridCommandLine.RunAsync(["runs"], new StringWriter(), legacy) == 0, legacy.ToString());
            Assert.Contains("warning: PUNKGRID_PG is deprecated: set PUNKGRID__Postgres instead", legacy.ToString());
        }
        finally
        {
            foreach (var (variable, value) in saved)
            {
                Environment.SetEnvironmentVariable(variable, value);
            }
        }
        await cluster.EnsureSilosAsync();
    }
}
