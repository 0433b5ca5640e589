using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using PunkGrid.Contracts;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Queue;

/// <summary>
/// Runs, jobs and their transitions in PostgreSQL. Every transition is one conditional statement (the job must be
/// in the expected state and, for a worker's report, at the expected attempt) that also appends to <c>job_events</c>,
/// so concurrent or stale callers can never move a job twice. Parameterised SQL only.
/// </summary>
public sealed class JobStore(NpgsqlDataSource dataSource)
{
    private const string JobColumns = """
        job_id, run_id, kind, target, state, attempt, failures, max_failures, lost_leases, worker_id, progress, epoch, total_epochs,
        error, summary, updated_at, profile, parameters
        """;

    public sealed record NewJob(string JobId, JobSpec Spec, int Priority, int MaxFailures, string Device);

    /// <summary>Creates the run and its jobs in one transaction. False (and nothing written) when the run id exists.</summary>
    public async Task<bool> CreateRunAsync(string runId, RunSpec spec, IReadOnlyList<NewJob> jobs, CancellationToken cancellation = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        if (!await InsertRunAsync(connection, transaction, runId, spec, cancellation))
        {
            await transaction.RollbackAsync(cancellation);
            return false;
        }
        await InsertJobsAsync(connection, transaction, runId, jobs, "submitted", cancellation);
        await transaction.CommitAsync(cancellation);
        return true;
    }

    /// <summary>The run's row, in the caller's transaction; false when a run of that id exists (nothing written).</summary>
    internal static async Task<bool> InsertRunAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string runId, RunSpec spec, CancellationToken cancellation)
    {
        await using var run = new NpgsqlCommand("""
            insert into runs (run_id, kind, profile, spec, priority, promote_alias) values (@id, @kind, @profile, @spec, @priority, @promote)
            on conflict (run_id) do nothing
            """, connection, transaction);
        run.Parameters.AddWithValue("id", runId);
        run.Parameters.AddWithValue("kind", spec.Kind);
        run.Parameters.AddWithValue("profile", spec.Profile);
        run.Parameters.AddWithValue("spec", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(spec));
        run.Parameters.AddWithValue("priority", spec.Priority);
        run.Parameters.Add(new NpgsqlParameter<string?>("promote", spec.PromoteAlias) { NpgsqlDbType = NpgsqlDbType.Text });
        return await run.ExecuteNonQueryAsync(cancellation) > 0;
    }

    /// <summary>
    /// Queued jobs of a run and their first events (<paramref name="detail"/>), in the caller's transaction: two statements
    /// whatever the count (a 10,000-job run is one round trip). The insert's trigger notifies the workers at commit.
    /// </summary>
    internal static async Task InsertJobsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string runId, IReadOnlyList<NewJob> jobs,
        string detail, CancellationToken cancellation)
    {
        await using var insert = new NpgsqlCommand("""
            with created as (
                insert into jobs (job_id, run_id, kind, target, profile, parameters, device, priority, state, max_failures)
                select j.job_id, @run, j.kind, j.target, j.profile, j.parameters, j.device, j.priority, 'Queued', j.max_failures
                from unnest(@jobs::text[], @kinds::text[], @targets::text[], @profiles::text[], @parameters::jsonb[], @devices::text[],
                            @priorities::int[], @max::int[])
                     as j(job_id, kind, target, profile, parameters, device, priority, max_failures)
                returning job_id)
            insert into job_events (job_id, attempt, from_state, to_state, detail)
            select job_id, 0, null, 'Queued', @detail from created
            """, connection, transaction);
        insert.CommandTimeout = 300;
        insert.Parameters.AddWithValue("run", runId);
        insert.Parameters.AddWithValue("detail", detail);
        insert.Parameters.AddWithValue("jobs", jobs.Select(j => j.JobId).ToArray());
        insert.Parameters.AddWithValue("kinds", jobs.Select(j => j.Spec.Kind).ToArray());
        insert.Parameters.AddWithValue("targets", NpgsqlDbType.Array | NpgsqlDbType.Text, jobs.Select(j => j.Spec.Target).ToArray());
        insert.Parameters.AddWithValue("profiles", jobs.Select(j => j.Spec.Profile).ToArray());
        // One job's parameters serialised once when every job shares them (all jobs of a run do).
        var shared = jobs.Select(j => j.Spec.Parameters).Distinct().Count() == 1 ? JsonSerializer.Serialize(jobs[0].Spec.Parameters) : null;
        insert.Parameters.AddWithValue("parameters", NpgsqlDbType.Array | NpgsqlDbType.Jsonb,
            jobs.Select(j => shared ?? JsonSerializer.Serialize(j.Spec.Parameters)).ToArray());
        insert.Parameters.AddWithValue("devices", jobs.Select(j => j.Device).ToArray());
        insert.Parameters.AddWithValue("priorities", jobs.Select(j => j.Priority).ToArray());
        insert.Parameters.AddWithValue("max", jobs.Select(j => j.MaxFailures).ToArray());
        await insert.ExecuteNonQueryAsync(cancellation);
    }

    /// <summary>How many jobs are in each state, cluster-wide (every state present, zero when none), from the runs' counts.</summary>
    public async Task<IReadOnlyDictionary<string, long>> CountJobsByStateAsync(CancellationToken cancellation = default)
    {
        var counts = Enum.GetNames<JobState>().ToDictionary(s => s, _ => 0L);
        await using var command = dataSource.CreateCommand($"""
            select state_moved as state, sum(jobs_moved)::bigint as jobs
            from run_job_counts, {StateMoves}
            where state_moved is not null
            group by state_moved
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            counts[reader.Text("state")] = reader.Long("jobs");
        }
        return counts;
    }

    /// <summary>
    /// A <c>run_job_counts</c> row as the jobs it adds to one state and takes from another (see migration 0008): summed by
    /// state, these are the jobs in each state.
    /// </summary>
    private const string StateMoves = """
        lateral (values (to_state, jobs), (from_state, -jobs)) as moved(state_moved, jobs_moved)
        """;

    /// <summary>
    /// Folds each run's appended count rows into one row per state (one silo at a time: the others skip the pass). Returns
    /// the rows folded; the read cost of a run's counts stays a handful of rows however many of its jobs moved.
    /// </summary>
    public async Task<long> CompactJobCountsAsync(CancellationToken cancellation = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        await using (var gate = new NpgsqlCommand("""
            select pg_try_advisory_xact_lock(@key)
            """, connection, transaction))
        {
            gate.Parameters.AddWithValue("key", CompactionLockKey);
            if (!(bool)(await gate.ExecuteScalarAsync(cancellation))!)
            {
                return 0;
            }
        }
        await using var fold = new NpgsqlCommand($"""
            with touched as (select distinct run_id from run_job_counts where from_state is not null),
            folded as (
                delete from run_job_counts c using touched t where c.run_id = t.run_id
                returning c.run_id, c.from_state, c.to_state, c.jobs),
            net as (
                select run_id, state_moved as state, sum(jobs_moved) as jobs from folded, {StateMoves}
                where state_moved is not null
                group by run_id, state_moved),
            kept as (insert into run_job_counts (run_id, to_state, jobs) select run_id, state, jobs from net where jobs <> 0 returning 1)
            select count(*) from folded
            """, connection, transaction);
        var folded = (long)(await fold.ExecuteScalarAsync(cancellation))!;
        await transaction.CommitAsync(cancellation);
        return folded;
    }

    private const long CompactionLockKey = 0x50476a6f62637473; // "PGjobcts"

    public async Task<RunSummary?> GetRunSummaryAsync(string runId, CancellationToken cancellation = default) =>
        (await ListRunsAsync(1, runId: runId, cancellation: cancellation)).Items.SingleOrDefault();

    /// <summary>
    /// The newest runs first (then by id), <paramref name="limit"/> at a time after the run <paramref name="after"/>, each with its
    /// jobs counted by state. The counts come from <c>run_job_counts</c> and the progress from the unfinished jobs that have
    /// some (a partial index), so a page costs the same whether its runs hold ten jobs or a hundred thousand.
    /// </summary>
    public async Task<Page<RunSummary>> ListRunsAsync(int limit, string? after = null, string? runId = null, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand($"""
            with page as (
                select run_id, kind, profile, priority, created_at from runs
                where (@run::text is null or run_id = @run)
                  and (@after::text is null or (created_at, run_id) < (select created_at, run_id from runs where run_id = @after))
                order by created_at desc, run_id desc
                limit @limit),
            counted as (
                select c.run_id, state_moved as state, sum(jobs_moved) as jobs
                from run_job_counts c join page p on p.run_id = c.run_id, {StateMoves}
                where state_moved is not null
                group by c.run_id, state_moved),
            partial as (
                select j.run_id, sum(j.progress) as progress from jobs j join page p on p.run_id = j.run_id
                where j.progress > 0 and j.state in ('Queued', 'Running')
                group by j.run_id)
            select p.run_id, p.kind, p.profile, p.priority, p.created_at,
                   coalesce(sum(c.jobs), 0)::bigint as total,
                   coalesce(sum(c.jobs) filter (where c.state = 'Queued'), 0)::bigint as queued,
                   coalesce(sum(c.jobs) filter (where c.state = 'Running'), 0)::bigint as running,
                   coalesce(sum(c.jobs) filter (where c.state = 'Succeeded'), 0)::bigint as succeeded,
                   coalesce(sum(c.jobs) filter (where c.state = 'Failed'), 0)::bigint as failed,
                   coalesce(sum(c.jobs) filter (where c.state = 'Cancelled'), 0)::bigint as cancelled,
                   coalesce((coalesce(sum(c.jobs) filter (where c.state in ('Succeeded', 'Failed', 'Cancelled')), 0) + coalesce(min(pp.progress), 0))
                            / nullif(sum(c.jobs), 0), 0)::float8 as progress
            from page p left join counted c on c.run_id = p.run_id left join partial pp on pp.run_id = p.run_id
            group by p.run_id, p.kind, p.profile, p.priority, p.created_at
            order by p.created_at desc, p.run_id desc
            """);
        command.Parameters.AddWithValue("run", NpgsqlDbType.Text, (object?)runId ?? DBNull.Value);
        command.Parameters.AddWithValue("after", NpgsqlDbType.Text, (object?)after ?? DBNull.Value);
        command.Parameters.AddWithValue("limit", limit);
        var result = new List<RunSummary>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            result.Add(new RunSummary(reader.Text("run_id"), reader.Text("kind"), reader.Text("profile"), reader.Int("priority"),
                reader.Time("created_at"), (int)reader.Long("total"), (int)reader.Long("queued"), (int)reader.Long("running"),
                (int)reader.Long("succeeded"), (int)reader.Long("failed"), (int)reader.Long("cancelled"), reader.Double("progress")));
        }
        return new Page<RunSummary>(result, result.Count == limit ? result[^1].RunId : null);
    }

    public async Task<RunSpec?> GetRunSpecAsync(string runId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select spec::text from runs where run_id = @run
            """);
        command.Parameters.AddWithValue("run", runId);
        return await command.ExecuteScalarAsync(cancellation) is string json ? JsonSerializer.Deserialize<RunSpec>(json) : null;
    }

    /// <summary>A run's jobs by job id, <paramref name="limit"/> at a time after the job id <paramref name="after"/>.</summary>
    public async Task<Page<JobSummary>> GetJobsPageAsync(string runId, string? after, int limit, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand($"""
            select {JobColumns} from jobs
            where run_id = @run and (@after::text is null or job_id > @after)
            order by job_id
            limit @limit
            """);
        command.Parameters.AddWithValue("run", runId);
        command.Parameters.AddWithValue("after", NpgsqlDbType.Text, (object?)after ?? DBNull.Value);
        command.Parameters.AddWithValue("limit", limit);
        var jobs = (await ReadJobsAsync(command, cancellation)).Select(j => j.Summary).ToList();
        return new Page<JobSummary>(jobs, jobs.Count == limit ? jobs[^1].JobId : null);
    }

    public async Task<IReadOnlyList<JobSummary>> GetJobsAsync(string runId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand($"""
            select {JobColumns} from jobs where run_id = @run order by target, job_id
            """);
        command.Parameters.AddWithValue("run", runId);
        return (await ReadJobsAsync(command, cancellation)).Select(j => j.Summary).ToList();
    }

    public async Task<(JobSummary Summary, JobSpec Spec)?> GetJobAsync(string jobId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand($"""
            select {JobColumns} from jobs where job_id = @job
            """);
        command.Parameters.AddWithValue("job", jobId);
        var jobs = await ReadJobsAsync(command, cancellation);
        return jobs.Count == 0 ? null : jobs[0];
    }

    private static async Task<List<(JobSummary Summary, JobSpec Spec)>> ReadJobsAsync(NpgsqlCommand command, CancellationToken cancellation)
    {
        var result = new List<(JobSummary, JobSpec)>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            var summary = reader.TextOrNull("summary") is { } json
                ? JsonSerializer.Deserialize<Dictionary<string, double>>(json)!
                : new Dictionary<string, double>();
            var target = reader.TextOrNull("target");
            var job = new JobSummary(reader.Text("job_id"), reader.Text("run_id"), reader.Text("kind"), target,
                Enum.Parse<JobState>(reader.Text("state")), reader.Int("attempt"), reader.Int("failures"), reader.Int("max_failures"),
                reader.Int("lost_leases"), reader.TextOrNull("worker_id"), reader.Double("progress"), reader.Int("epoch"),
                reader.Int("total_epochs"), reader.TextOrNull("error"), summary, reader.Time("updated_at"));
            var spec = new JobSpec(job.Kind, target, reader.Text("profile"),
                JsonSerializer.Deserialize<Dictionary<string, string>>(reader.Text("parameters"))!);
            result.Add((job, spec));
        }
        return result;
    }

    public async Task<IReadOnlyList<JobEventView>> GetEventsAsync(string jobId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select at, attempt, from_state, to_state, worker_id, detail from job_events where job_id = @job order by id
            """);
        command.Parameters.AddWithValue("job", jobId);
        var result = new List<JobEventView>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            result.Add(new JobEventView(reader.Time("at"), reader.Int("attempt"), reader.TextOrNull("from_state"), reader.Text("to_state"),
                reader.TextOrNull("worker_id"), reader.TextOrNull("detail")));
        }
        return result;
    }

    /// <summary>Queued | Running → Cancelled. Null when the job does not exist; its current state when it could not be cancelled.</summary>
    public async Task<(bool Changed, JobState State)?> CancelAsync(string jobId, string reason, CancellationToken cancellation = default) =>
        await JobTransition.ApplyAsync(dataSource, jobId, "j.state in ('Queued', 'Running')",
            "state = 'Cancelled', finished_at = now(), lease_expires_at = null", null, reason, null, cancellation) is { } outcome
            ? (outcome.Applied, outcome.State)
            : null;

    /// <summary>Failed | Cancelled → Queued with a fresh budget of failures and crashes. Null when the job does not exist.</summary>
    public async Task<(bool Changed, JobState State)?> RetryAsync(string jobId, CancellationToken cancellation = default) =>
        await JobTransition.ApplyAsync(dataSource, jobId, "j.state in ('Failed', 'Cancelled')",
            "state = 'Queued', failures = 0, crash_streak = 0, finished_at = null, worker_id = null, progress = 0",
            null, "retry", null, cancellation) is { } outcome
            ? (outcome.Applied, outcome.State)
            : null;

    /// <summary>The memory (MB) of the largest worker heard from within <paramref name="aliveWithin"/>; null when none was.</summary>
    public async Task<long?> LargestWorkerMemoryAsync(TimeSpan aliveWithin, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select max(memory_mb) from workers where last_heartbeat > now() - @alive
            """);
        command.Parameters.AddWithValue("alive", aliveWithin);
        return await command.ExecuteScalarAsync(cancellation) is long megabytes ? megabytes : null;
    }

    public async Task<IReadOnlyList<WorkerView>> ListWorkersAsync(TimeSpan aliveWithin, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select worker_id, silo, device, slots, running, last_heartbeat, last_heartbeat > now() - @alive as alive
            from workers
            order by worker_id
            """);
        command.Parameters.AddWithValue("alive", aliveWithin);
        var result = new List<WorkerView>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            result.Add(new WorkerView(reader.Text("worker_id"), reader.Text("silo"), reader.Text("device"), reader.Int("slots"),
                reader.Int("running"), reader.Time("last_heartbeat"), reader.Bool("alive")));
        }
        return result;
    }

    public async Task<IReadOnlyList<TraitResultRow>> GetTraitResultsAsync(string runId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select job_id, coalesce(target, '') as trait, state,
                   (evaluation->>'accuracy')::float8 as accuracy, (evaluation->>'precision')::float8 as precision,
                   (evaluation->>'recall')::float8 as recall, (evaluation->>'f1')::float8 as f1,
                   (evaluation->>'test_positives')::int as test_positives, (evaluation->>'seconds')::float8 as seconds
            from jobs
            where run_id = @run
            order by target
            """);
        command.Parameters.AddWithValue("run", runId);
        var result = new List<TraitResultRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            result.Add(new TraitResultRow(reader.Text("job_id"), reader.Text("trait"), Enum.Parse<JobState>(reader.Text("state")),
                reader.DoubleOrNull("accuracy"), reader.DoubleOrNull("precision"), reader.DoubleOrNull("recall"), reader.DoubleOrNull("f1"),
                reader.IntOrNull("test_positives"), reader.DoubleOrNull("seconds")));
        }
        return result;
    }
}
