using System.Text.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using PunkGrid.Contracts;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Worker;

namespace PunkGrid.Server.Queue;

/// <summary>
/// The queue, which is the <c>jobs</c> table: there is no other copy. A worker leases the best Queued jobs that fit its
/// device with one statement (<c>for update skip locked</c>: concurrent workers never wait on or take each other's
/// jobs), renews its leases with heartbeats, and reports the outcome; every silo expires the leases nobody renewed.
/// Every statement is conditional on the job's state and attempt (the fencing token) and appends to <c>job_events</c>,
/// so each one is safe to retry after an ambiguous failure.
/// </summary>
public sealed class JobQueue(NpgsqlDataSource dataSource, IOptions<JobQueueOptions> options)
{
    private JobQueueOptions Settings => options.Value;

    /// <summary>The job classes a worker with <paramref name="device"/> (<c>cpu</c>, <c>cuda:0</c>) may run: <c>any</c> and its own.</summary>
    public static string[] DeviceClasses(string device) => ["any", device.StartsWith("cuda", StringComparison.Ordinal) ? "cuda" : device];

    /// <summary>
    /// Queued → Running for up to <paramref name="count"/> jobs (highest priority, then oldest), attempt + 1 each. A suspect
    /// job — its last attempt died with its worker before a checkpoint (<c>crash_streak</c> &gt; 0) — may be killing the
    /// processes that run it, so it runs alone: only a worker running nothing leases it, leases nothing beside it, and
    /// takes nothing else until the suspect saves a checkpoint or ends. Its next death then counts against it alone, never
    /// against the jobs that happened to share its process. A busy worker passes over suspects of its jobs' priority (an
    /// idle worker will take them) but takes nothing of lower priority than a waiting suspect: it drains for it.
    /// </summary>
    public async Task<IReadOnlyList<JobLease>> LeaseAsync(WorkerRegistration worker, int count, CancellationToken cancellation = default)
    {
        if (count <= 0)
        {
            return [];
        }
        await using var command = dataSource.CreateCommand(
            $"""
            with mine as (select count(*) as running, coalesce(bool_or({SuspectWithoutCheckpoint}), false) as isolating
            from jobs j where j.state = 'Running' and j.worker_id = @worker),
            head as (select j.job_id, j.crash_streak > 0 as suspect from jobs j where {Leasable}
            order by j.priority desc, j.created_at, j.job_id limit 1 for update skip locked),
            rest as (select j.job_id from jobs j where {Leasable} and j.crash_streak = 0 and not coalesce((select suspect from head), true)
            and j.job_id not in (select job_id from head) order by j.priority desc, j.created_at, j.job_id limit @count - 1 for update skip locked),
            picked as (select job_id from head union all select job_id from rest),
            started as (update jobs j set state = 'Running', attempt = j.attempt + 1, worker_id = @worker, lease_expires_at = now() + @lease,
            started_at = coalesce(j.started_at, now()), progressed_at = now(), error = null, updated_at = now() from picked p where j.job_id = p.job_id
            returning j.job_id, j.run_id, j.attempt, j.kind, j.target, j.profile, j.parameters, j.priority, j.created_at),
            events as (insert into job_events (job_id, attempt, from_state, to_state, worker_id, detail)
            select job_id, attempt, 'Queued', 'Running', @worker, 'leased' from started)
            select job_id, run_id, attempt, kind, target, profile, parameters::text as parameters from started order by priority desc, created_at, job_id
            """);
        command.Parameters.AddWithValue("devices", DeviceClasses(worker.Device));
        command.Parameters.AddWithValue("count", count);
        command.Parameters.AddWithValue("worker", worker.WorkerId);
        command.Parameters.AddWithValue("lease", Settings.LeaseTimeout);
        return await ReadLeasesAsync(command, cancellation);
    }

    /// <summary>
    /// SQL: the Running job <c>j</c> is a suspect that has not yet saved a checkpoint in this attempt, so its worker runs it
    /// alone (the free slots beside it are held free on purpose).
    /// </summary>
    public const string SuspectWithoutCheckpoint =
        "j.crash_streak > 0 and not exists (select 1 from checkpoints c where c.job_id = j.job_id and c.attempt = j.attempt)";

    // Which Queued jobs the worker of LeaseAsync may take: of its device, none while it runs a suspect alone, a suspect only
    // when it runs nothing, and no ordinary job of lower priority than a suspect waiting for a worker of its device.
    private const string Leasable =
        """
        j.state = 'Queued' and j.device = any(@devices) and not (select isolating from mine)
        and case when j.crash_streak > 0 then (select running from mine) = 0
        else j.priority >= coalesce((select max(s.priority) from jobs s where s.state = 'Queued' and s.device = any(@devices) and s.crash_streak > 0), j.priority) end
        """;

    /// <summary>What a heartbeat learned: the reported jobs this worker no longer holds, and jobs the database says it holds that it did not report (orphans).</summary>
    public sealed record HeartbeatResult(IReadOnlyList<string> Lost, IReadOnlyList<(string JobId, int Attempt)> Orphans);

    /// <summary>
    /// Records the worker (capacity, liveness) and the progress of its jobs, renewing the lease of each job it still holds
    /// at the reported attempt. Jobs not renewed were cancelled or moved on to a newer attempt: the worker must stop them.
    /// Jobs Running at this worker that it did not report are orphans: leases granted by a call whose answer never arrived
    /// (the database was paused, say). They are the worker's own; it claims them (<see cref="ClaimOrphansAsync"/>).
    /// </summary>
    public async Task<HeartbeatResult> HeartbeatAsync(WorkerRegistration worker, IReadOnlyList<JobProgressReport> reports, CancellationToken cancellation = default)
    {
        await using var batch = dataSource.CreateBatch();
        var upsert = new NpgsqlBatchCommand(
            """
            insert into workers (worker_id, silo, device, slots, memory_mb, running) values (@w, @silo, @device, @slots, @memory, @running)
            on conflict (worker_id) do update set silo = excluded.silo, device = excluded.device, slots = excluded.slots,
            memory_mb = excluded.memory_mb, running = excluded.running, last_heartbeat = now()
            """);
        upsert.Parameters.AddWithValue("w", worker.WorkerId);
        upsert.Parameters.AddWithValue("silo", worker.Silo);
        upsert.Parameters.AddWithValue("device", worker.Device);
        upsert.Parameters.AddWithValue("slots", worker.Slots);
        upsert.Parameters.AddWithValue("memory", worker.MemoryMegabytes);
        upsert.Parameters.AddWithValue("running", reports.Count);
        batch.BatchCommands.Add(upsert);
        var renew = new NpgsqlBatchCommand(
            """
            with reported as (select * from unnest(@jobs::text[], @attempts::int[], @progress::float8[], @epochs::int[], @total_epochs::int[],
            @steps::bigint[], @total_steps::bigint[]) as r(job_id, attempt, progress, epoch, total_epochs, step, total_steps)),
            renewed as (update jobs j set progress = r.progress, epoch = r.epoch, total_epochs = r.total_epochs, step = r.step,
            total_steps = r.total_steps, lease_expires_at = now() + @lease, updated_at = now(),
            progressed_at = case when r.step <> j.step or r.epoch <> j.epoch then now() else coalesce(j.progressed_at, now()) end from reported r
            where j.job_id = r.job_id and j.attempt = r.attempt and j.state = 'Running' and j.worker_id = @w returning j.job_id),
            -- A worker reporting an attempt whose lease was lost as a crash was frozen or cut off, not dead: the count goes back.
            refund as (update job_events e set counted_crash = false from reported r where e.job_id = r.job_id and e.attempt = r.attempt
            and e.worker_id = @w and e.counted_crash and r.job_id not in (select job_id from renewed) returning e.job_id),
            refunded as (update jobs j set crash_streak = greatest(j.crash_streak - c.crashes, 0)
            from (select job_id, count(*)::int as crashes from refund group by job_id) c where j.job_id = c.job_id and j.state in ('Queued', 'Running'))
            select r.job_id, r.attempt, false as orphan from reported r where r.job_id not in (select job_id from renewed)
            union all select job_id, attempt, true from jobs where state = 'Running' and worker_id = @w and job_id <> all(@jobs)
            """);
        renew.Parameters.AddWithValue("jobs", reports.Select(r => r.JobId).ToArray());
        renew.Parameters.AddWithValue("attempts", reports.Select(r => r.Attempt).ToArray());
        renew.Parameters.AddWithValue("progress", reports.Select(r => r.Progress).ToArray());
        renew.Parameters.AddWithValue("epochs", reports.Select(r => r.Epoch).ToArray());
        renew.Parameters.AddWithValue("total_epochs", reports.Select(r => r.TotalEpochs).ToArray());
        renew.Parameters.AddWithValue("steps", reports.Select(r => r.Step).ToArray());
        renew.Parameters.AddWithValue("total_steps", reports.Select(r => r.TotalSteps).ToArray());
        renew.Parameters.AddWithValue("lease", Settings.LeaseTimeout);
        renew.Parameters.AddWithValue("w", worker.WorkerId);
        batch.BatchCommands.Add(renew);
        var lost = new List<string>();
        var orphans = new List<(string, int)>();
        await using var reader = await batch.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            if (reader.Bool("orphan"))
            {
                orphans.Add((reader.Text("job_id"), reader.Int("attempt")));
            }
            else
            {
                lost.Add(reader.Text("job_id"));
            }
        }
        return new HeartbeatResult(lost, orphans);
    }

    /// <summary>How a worker's report of an attempt's end was taken.</summary>
    public enum ReportOutcome
    {
        /// <summary>The job moved as reported.</summary>
        Applied,

        /// <summary>The same report had already been applied (a retry after an answer that never arrived).</summary>
        AlreadyApplied,

        /// <summary>The attempt no longer held the job (its lease was lost, or the job was cancelled): nothing changed.</summary>
        Stale,
    }

    /// <summary>
    /// Running (at this attempt) → Succeeded, with the evaluation and its headline numbers. <paramref name="finalEpochs"/> and
    /// <paramref name="finalSteps"/> (the trainer's last progress) are recorded as done, so a job too short for any heartbeat
    /// still shows how far it went (not 0/0).
    /// </summary>
    public async Task<ReportOutcome> SucceedAsync(string jobId, int attempt, string evaluationJson, IReadOnlyDictionary<string, double> summary,
        int finalEpochs = 0, long finalSteps = 0, CancellationToken cancellation = default)
    {
        var outcome = await JobTransition.ApplyAsync(dataSource, jobId, "j.state = 'Running' and j.attempt = @attempt",
            """
            state = 'Succeeded', progress = 1, total_epochs = greatest(j.total_epochs, @epochs), epoch = greatest(j.total_epochs, @epochs),
            total_steps = greatest(j.total_steps, @steps), step = greatest(j.total_steps, @steps), finished_at = now(), lease_expires_at = null,
            crash_streak = 0, evaluation = @evaluation, summary = @summary
            """,
            null, "succeeded", p =>
            {
                p.AddWithValue("attempt", attempt);
                p.AddWithValue("epochs", finalEpochs);
                p.AddWithValue("steps", finalSteps);
                p.AddWithValue("evaluation", NpgsqlDbType.Jsonb, evaluationJson);
                p.AddWithValue("summary", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(summary));
            }, cancellation);
        return outcome switch
        {
            { Applied: true } => ReportOutcome.Applied,
            { State: JobState.Succeeded } o when o.Attempt == attempt => ReportOutcome.AlreadyApplied,
            _ => ReportOutcome.Stale,
        };
    }

    /// <summary>
    /// Running (at this attempt) → Queued when the failure is retryable and the job has failed fewer than its
    /// <c>max_failures</c> times; else → Failed. The error is kept. Null when the attempt no longer held the job.
    /// </summary>
    public async Task<JobState?> FailAsync(string jobId, int attempt, string error, bool retryable, CancellationToken cancellation = default)
    {
        var outcome = await JobTransition.ApplyAsync(dataSource, jobId, "j.state = 'Running' and j.attempt = @attempt",
            """
            failures = j.failures + 1,
            state = case when @retryable and j.failures + 1 < j.max_failures then 'Queued' else 'Failed' end,
            worker_id = null, lease_expires_at = null, error = @error, crash_streak = 0,
            finished_at = case when @retryable and j.failures + 1 < j.max_failures then null else now() end
            """,
            null, error, p =>
            {
                p.AddWithValue("attempt", attempt);
                p.AddWithValue("retryable", retryable);
                p.AddWithValue("error", error);
            }, cancellation);
        return outcome is { Applied: true } o ? o.State : null;
    }

    /// <summary>Running (at this attempt) → Queued with nothing counted against the job: its worker is shutting down and hands it back.</summary>
    public async Task<bool> ReleaseAsync(string jobId, int attempt, string reason, CancellationToken cancellation = default) =>
        await JobTransition.ApplyAsync(dataSource, jobId, "j.state = 'Running' and j.attempt = @attempt",
            "state = 'Queued', worker_id = null, lease_expires_at = null, error = @reason",
            null, reason, p =>
            {
                p.AddWithValue("attempt", attempt);
                p.AddWithValue("reason", reason);
            }, cancellation) is { Applied: true };

    /// <summary>One attempt whose lease was lost, and where that left its job.</summary>
    public sealed record LostLease(string JobId, int Attempt, string? WorkerId, JobState State, string Reason);

    /// <summary>What one lease-keeper pass found: an outage (leases extended instead of expired), and the leases it expired.</summary>
    public sealed record ExpiryResult(bool Outage, TimeSpan SincePreviousTick, int Extended, IReadOnlyList<LostLease> Expired, bool Skipped = false);

    // Where a lost lease leaves its job: requeued, or quarantined once too many attempts in a row died before a checkpoint.
    // Nothing is counted against the job's failures: a worker's death is the cluster's misfortune, not the job's fault.
    // A death counts towards quarantine (a crash) only if the attempt saved no checkpoint and its worker died alone: when a
    // worker of another silo fell silent within the simultaneous-death window of this one's last renewal — among the
    // leases lost now, the leases still held by silent workers, or the deaths of other jobs recorded before — the cluster lost several
    // silos at once (a host, a network, every silo), which no job does to workers it does not run on.
    private const string LoseLeases =
        """
        judged as (select d.*, not d.progressed and not (
        exists (select 1 from doomed o where split_part(o.worker_id, '/', 1) <> split_part(d.worker_id, '/', 1)
        and o.renewed_at between d.renewed_at - @window and d.renewed_at + @window)
        or exists (select 1 from jobs o where o.state = 'Running' and split_part(o.worker_id, '/', 1) <> split_part(d.worker_id, '/', 1)
        and o.lease_expires_at - @lease < now() - @window
        and o.lease_expires_at - @lease between d.renewed_at - @window and d.renewed_at + @window)
        or exists (select 1 from job_events e where e.lease_renewed_at between d.renewed_at - @window and d.renewed_at + @window
        and e.job_id <> d.job_id and split_part(e.worker_id, '/', 1) <> split_part(d.worker_id, '/', 1))) as crash from doomed d),
        lost as (update jobs j set lost_leases = j.lost_leases + 1,
        crash_streak = case when d.progressed then 0 when d.crash then j.crash_streak + 1 else j.crash_streak end,
        state = case when d.crash and j.crash_streak + 1 >= @quarantine then 'Failed' else 'Queued' end,
        error = case when d.crash and j.crash_streak + 1 >= @quarantine
        then format('quarantined: %s attempts in a row lost their worker before saving a checkpoint (the job may be killing its workers, e.g. out of memory); last: %s; `punkgrid retry` runs it again', j.crash_streak + 1, format(@reason, d.worker_id))
        else format(@reason, d.worker_id) end,
        finished_at = case when d.crash and j.crash_streak + 1 >= @quarantine then now() end,
        worker_id = null, lease_expires_at = null, updated_at = now()
        from judged d where j.job_id = d.job_id returning j.job_id, j.attempt, j.state, d.worker_id, j.error, d.renewed_at, d.crash),
        events as (insert into job_events (job_id, attempt, from_state, to_state, worker_id, detail, lease_renewed_at, counted_crash)
        select job_id, attempt, 'Running', state, worker_id, error, renewed_at, crash from lost)
        """;

    // The leases being lost, with when their worker last renewed them (its time of death, to within a heartbeat).
    private const string Doomed =
        """
        select j.job_id, j.attempt, j.worker_id, j.lease_expires_at - @lease as renewed_at,
        exists (select 1 from checkpoints c where c.job_id = j.job_id and c.attempt = j.attempt) as progressed from jobs j
        """;

    /// <summary>
    /// One pass of the lease keeper. It ticks the lease clock; if the previous tick is older than the outage gap, nobody could
    /// reach the database for that long (or every silo was down), so no worker could have renewed its leases either: every
    /// running lease is extended by a full timeout instead. Otherwise the leases past their expiry are lost. All times are the
    /// database's, taken when the statement starts: a statement held up by a paused database cannot expire a lease that
    /// was still valid when it was sent. While another silo's keeper holds the clock, this pass does nothing
    /// (<see cref="ExpiryResult.Skipped"/>): with a thousand silos, one pass runs at a time and none waits.
    /// </summary>
    public async Task<ExpiryResult> ExpireLeasesAsync(CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            -- The clock's row is taken with skip locked: while one silo's keeper runs a pass, the others skip theirs.
            with clock as (select id from lease_clock where id = 1 for update skip locked),
            tick as (update lease_clock set previous_tick = last_tick, last_tick = greatest(last_tick, now()) where id = (select id from clock)
            returning now() - previous_tick > @gap as outage, now() - previous_tick as since),
            extended as (update jobs set lease_expires_at = now() + @lease where state = 'Running' and lease_expires_at < now() + @lease
            and (select outage from tick) returning job_id),
            doomed as ({Doomed} where j.state = 'Running' and j.lease_expires_at < now() and not (select outage from tick) for update of j skip locked),
            {LoseLeases}
            select t.outage, extract(epoch from t.since)::float8 as since_seconds, (select count(*) from extended) as extended,
                   l.job_id, l.attempt, l.state, l.worker_id, l.error
            from tick t left join lost l on true
            """);
        command.Parameters.AddWithValue("gap", Settings.EffectiveOutageGap);
        command.Parameters.AddWithValue("lease", Settings.LeaseTimeout);
        command.Parameters.AddWithValue("quarantine", Settings.QuarantineAfterCrashes);
        command.Parameters.AddWithValue("window", Settings.SimultaneousDeathWindow);
        command.Parameters.AddWithValue("reason", $"lease expired: worker %s sent no heartbeat for {Settings.LeaseTimeout.TotalSeconds:0.#}s");
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        var (outage, since, extended, ticked) = (false, TimeSpan.Zero, 0, false);
        var expired = new List<LostLease>();
        while (await reader.ReadAsync(cancellation))
        {
            ticked = true;
            (outage, since, extended) = (reader.Bool("outage"), TimeSpan.FromSeconds(reader.Double("since_seconds")), (int)reader.Long("extended"));
            if (reader.TextOrNull("job_id") is not null)
            {
                expired.Add(ReadLost(reader));
            }
        }
        return new ExpiryResult(outage, since, extended, expired, Skipped: !ticked);
    }

    /// <summary>
    /// Renews and returns the leases of orphans (see <see cref="HeartbeatAsync"/>) so the worker can run them: they are its
    /// own, granted by a lease call whose answer never arrived. Orphans no longer Running at this worker are left out.
    /// </summary>
    public async Task<IReadOnlyList<JobLease>> ClaimOrphansAsync(WorkerRegistration worker, IReadOnlyList<(string JobId, int Attempt)> orphans, CancellationToken cancellation = default)
    {
        if (orphans.Count == 0)
        {
            return [];
        }
        await using var command = dataSource.CreateCommand(
            """
            update jobs j set lease_expires_at = now() + @lease, updated_at = now() from unnest(@jobs::text[], @attempts::int[]) as o(job_id, attempt)
            where j.job_id = o.job_id and j.attempt = o.attempt and j.state = 'Running' and j.worker_id = @worker
            returning j.job_id, j.run_id, j.attempt, j.kind, j.target, j.profile, j.parameters::text as parameters
            """);
        command.Parameters.AddWithValue("jobs", orphans.Select(o => o.JobId).ToArray());
        command.Parameters.AddWithValue("attempts", orphans.Select(o => o.Attempt).ToArray());
        command.Parameters.AddWithValue("worker", worker.WorkerId);
        command.Parameters.AddWithValue("lease", Settings.LeaseTimeout);
        return await ReadLeasesAsync(command, cancellation);
    }

    /// <summary>
    /// A worker starting on an address where an earlier incarnation of it ran (same name and address, ids starting with
    /// <paramref name="incarnationPrefix"/>) takes over from it: that incarnation is dead (two processes cannot hold one
    /// address), so the leases it held are lost now rather than at their timeout, and its row in <c>workers</c> goes.
    /// </summary>
    public async Task<IReadOnlyList<LostLease>> LoseLeasesOfEarlierIncarnationsAsync(string workerId, string incarnationPrefix, CancellationToken cancellation = default)
    {
        await using var batch = dataSource.CreateBatch();
        var lose = new NpgsqlBatchCommand(
            $"""
            with doomed as ({Doomed} where j.state = 'Running' and starts_with(j.worker_id, @prefix) and j.worker_id <> @worker for update of j),
            {LoseLeases}
            select job_id, attempt, state, worker_id, error from lost
            """);
        lose.Parameters.AddWithValue("prefix", incarnationPrefix);
        lose.Parameters.AddWithValue("worker", workerId);
        lose.Parameters.AddWithValue("quarantine", Settings.QuarantineAfterCrashes);
        lose.Parameters.AddWithValue("window", Settings.SimultaneousDeathWindow);
        lose.Parameters.AddWithValue("lease", Settings.LeaseTimeout);
        lose.Parameters.AddWithValue("reason", "lease lost: worker %s was restarted on the same address; its attempt died with it");
        batch.BatchCommands.Add(lose);
        var forget = new NpgsqlBatchCommand("delete from workers where starts_with(worker_id, @prefix) and worker_id <> @worker");
        forget.Parameters.AddWithValue("prefix", incarnationPrefix);
        forget.Parameters.AddWithValue("worker", workerId);
        batch.BatchCommands.Add(forget);
        var lost = new List<LostLease>();
        await using var reader = await batch.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            lost.Add(ReadLost(reader));
        }
        return lost;
    }

    /// <summary>A lost lease from a row with job_id, attempt, state, worker_id and error.</summary>
    private static LostLease ReadLost(NpgsqlDataReader reader) =>
        new(reader.Text("job_id"), reader.Int("attempt"), reader.TextOrNull("worker_id"), Enum.Parse<JobState>(reader.Text("state")), reader.Text("error"));

    /// <summary>How many jobs are Queued: the queue's depth.</summary>
    public async Task<long> DepthAsync(CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("select count(*) from jobs where state = 'Queued'");
        return (long)(await command.ExecuteScalarAsync(cancellation))!;
    }

    /// <summary>Leases from a statement returning job_id, run_id, attempt, kind, target, profile and parameters (as text).</summary>
    private static async Task<List<JobLease>> ReadLeasesAsync(NpgsqlCommand command, CancellationToken cancellation)
    {
        var leases = new List<JobLease>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            var spec = new JobSpec(reader.Text("kind"), reader.TextOrNull("target"), reader.Text("profile"),
                JsonSerializer.Deserialize<Dictionary<string, string>>(reader.Text("parameters"))!);
            leases.Add(new JobLease(reader.Text("job_id"), reader.Text("run_id"), reader.Int("attempt"), spec));
        }
        return leases;
    }
}
