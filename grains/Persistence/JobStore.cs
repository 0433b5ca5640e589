using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using PunkGrid.Contracts;

namespace PunkGrid.Grains.Persistence;

/// <summary>
/// Runs, jobs and their transitions in PostgreSQL. Every transition is one conditional statement (the job must be
/// in the expected state and, for a worker's report, at the expected attempt) that also appends to <c>job_events</c>,
/// so concurrent or stale callers can never move a job twice. Parameterised SQL only.
/// </summary>
public sealed class JobStore(NpgsqlDataSource dataSource)
{
    private const string JobColumns =
        "job_id, run_id, kind, target, state, attempt, max_attempts, worker_id, progress, epoch, total_epochs, error, summary, updated_at, profile, parameters";

    public sealed record NewJob(string JobId, JobSpec Spec, int Priority, int MaxAttempts, string Device);

    /// <summary>Creates the run and its jobs in one transaction. False (and nothing written) when the run id exists.</summary>
    public async Task<bool> CreateRunAsync(string runId, RunSpec spec, IReadOnlyList<NewJob> jobs, CancellationToken cancellation = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        await using (var run = new NpgsqlCommand(
            "insert into runs (run_id, kind, profile, spec, priority) values (@id, @kind, @profile, @spec, @priority) on conflict (run_id) do nothing",
            connection, transaction))
        {
            run.Parameters.AddWithValue("id", runId);
            run.Parameters.AddWithValue("kind", spec.Kind);
            run.Parameters.AddWithValue("profile", spec.Profile);
            run.Parameters.AddWithValue("spec", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(spec));
            run.Parameters.AddWithValue("priority", spec.Priority);
            if (await run.ExecuteNonQueryAsync(cancellation) == 0)
            {
                await transaction.RollbackAsync(cancellation);
                return false;
            }
        }
        var batch = new NpgsqlBatch(connection, transaction);
        foreach (var job in jobs)
        {
            var insert = new NpgsqlBatchCommand(
                "insert into jobs (job_id, run_id, kind, target, profile, parameters, device, priority, state, max_attempts) " +
                "values (@job, @run, @kind, @target, @profile, @parameters, @device, @priority, 'Queued', @max)");
            insert.Parameters.AddWithValue("job", job.JobId);
            insert.Parameters.AddWithValue("run", runId);
            insert.Parameters.AddWithValue("kind", job.Spec.Kind);
            insert.Parameters.AddWithValue("target", (object?)job.Spec.Target ?? DBNull.Value);
            insert.Parameters.AddWithValue("profile", job.Spec.Profile);
            insert.Parameters.AddWithValue("parameters", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(job.Spec.Parameters));
            insert.Parameters.AddWithValue("device", job.Device);
            insert.Parameters.AddWithValue("priority", job.Priority);
            insert.Parameters.AddWithValue("max", job.MaxAttempts);
            batch.BatchCommands.Add(insert);
            var created = new NpgsqlBatchCommand("insert into job_events (job_id, attempt, from_state, to_state, detail) values (@job, 0, null, 'Queued', 'submitted')");
            created.Parameters.AddWithValue("job", job.JobId);
            batch.BatchCommands.Add(created);
        }
        await using (batch)
        {
            await batch.ExecuteNonQueryAsync(cancellation);
        }
        await transaction.CommitAsync(cancellation);
        return true;
    }

    /// <summary>How many jobs are in each state, cluster-wide (every state present, zero when none).</summary>
    public async Task<IReadOnlyDictionary<string, long>> CountJobsByStateAsync(CancellationToken cancellation = default)
    {
        var counts = Enum.GetNames<JobState>().ToDictionary(s => s, _ => 0L);
        await using var command = dataSource.CreateCommand("select state, count(*) from jobs group by state");
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }
        return counts;
    }

    public async Task<RunSummary?> GetRunSummaryAsync(string runId, CancellationToken cancellation = default) =>
        (await ListRunsAsync(1, runId, cancellation)).SingleOrDefault();

    public async Task<IReadOnlyList<RunSummary>> ListRunsAsync(int limit, string? runId = null, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand(
            "select r.run_id, r.kind, r.profile, r.priority, r.created_at, count(j.job_id), " +
            "count(*) filter (where j.state = 'Queued'), count(*) filter (where j.state = 'Running'), " +
            "count(*) filter (where j.state = 'Succeeded'), count(*) filter (where j.state = 'Failed'), " +
            "count(*) filter (where j.state = 'Cancelled'), " +
            "coalesce(avg(case when j.state in ('Succeeded', 'Failed', 'Cancelled') then 1 else j.progress end), 0) " +
            "from runs r left join jobs j on j.run_id = r.run_id " +
            "where (@run::text is null or r.run_id = @run) group by r.run_id order by r.created_at desc limit @limit");
        command.Parameters.AddWithValue("run", NpgsqlDbType.Text, (object?)runId ?? DBNull.Value);
        command.Parameters.AddWithValue("limit", limit);
        var result = new List<RunSummary>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            result.Add(new RunSummary(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3),
                reader.GetFieldValue<DateTimeOffset>(4), (int)reader.GetInt64(5), (int)reader.GetInt64(6), (int)reader.GetInt64(7),
                (int)reader.GetInt64(8), (int)reader.GetInt64(9), (int)reader.GetInt64(10), reader.GetDouble(11)));
        }
        return result;
    }

    public async Task<IReadOnlyList<JobSummary>> GetJobsAsync(string runId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand($"select {JobColumns} from jobs where run_id = @run order by target, job_id");
        command.Parameters.AddWithValue("run", runId);
        return (await ReadJobsAsync(command, cancellation)).Select(j => j.Summary).ToList();
    }

    public async Task<(JobSummary Summary, JobSpec Spec)?> GetJobAsync(string jobId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand($"select {JobColumns} from jobs where job_id = @job");
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
            var summary = reader.IsDBNull(12)
                ? new Dictionary<string, double>()
                : JsonSerializer.Deserialize<Dictionary<string, double>>(reader.GetString(12))!;
            var target = reader.IsDBNull(3) ? null : reader.GetString(3);
            var job = new JobSummary(reader.GetString(0), reader.GetString(1), reader.GetString(2), target,
                Enum.Parse<JobState>(reader.GetString(4)), reader.GetInt32(5), reader.GetInt32(6),
                reader.IsDBNull(7) ? null : reader.GetString(7), reader.GetDouble(8), reader.GetInt32(9), reader.GetInt32(10),
                reader.IsDBNull(11) ? null : reader.GetString(11), summary, reader.GetFieldValue<DateTimeOffset>(13));
            var spec = new JobSpec(job.Kind, target, reader.GetString(14),
                JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(15))!);
            result.Add((job, spec));
        }
        return result;
    }

    public async Task<IReadOnlyList<JobEventView>> GetEventsAsync(string jobId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand(
            "select at, attempt, from_state, to_state, worker_id, detail from job_events where job_id = @job order by id");
        command.Parameters.AddWithValue("job", jobId);
        var result = new List<JobEventView>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            result.Add(new JobEventView(reader.GetFieldValue<DateTimeOffset>(0), reader.GetInt32(1),
                reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5)));
        }
        return result;
    }

    /// <summary>
    /// Applies a transition <c>set_clause</c> to the job when <c>condition</c> holds, appending an event, atomically.
    /// Returns the new state and attempt, or null when the condition did not hold (wrong state, stale attempt).
    /// </summary>
    private async Task<(JobState State, int Attempt)?> TransitionAsync(
        string jobId, string condition, string setClause, string? workerId, string? detail,
        Action<NpgsqlParameterCollection>? bind, CancellationToken cancellation)
    {
        await using var command = dataSource.CreateCommand(
            "with old as (select job_id, state from jobs where job_id = @job for update), " +
            $"changed as (update jobs j set {setClause}, updated_at = now() from old where j.job_id = old.job_id and ({condition}) " +
            "returning j.job_id, j.attempt, j.state, old.state as from_state) " +
            "insert into job_events (job_id, attempt, from_state, to_state, worker_id, detail) " +
            "select job_id, attempt, from_state, state, @worker, @detail from changed returning to_state, attempt");
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("worker", NpgsqlDbType.Text, (object?)workerId ?? DBNull.Value);
        command.Parameters.AddWithValue("detail", NpgsqlDbType.Text, (object?)detail ?? DBNull.Value);
        bind?.Invoke(command.Parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        if (!await reader.ReadAsync(cancellation))
        {
            return null;
        }
        return (Enum.Parse<JobState>(reader.GetString(0)), reader.GetInt32(1));
    }

    /// <summary>Queued → Running, attempt + 1 (the new fencing token), leased to <paramref name="workerId"/>.</summary>
    public async Task<JobLease?> StartAsync(string jobId, string workerId, TimeSpan lease, CancellationToken cancellation = default)
    {
        var started = await TransitionAsync(jobId, "j.state = 'Queued'",
            "state = 'Running', attempt = j.attempt + 1, worker_id = @worker, lease_expires_at = now() + @lease, " +
            "started_at = coalesce(j.started_at, now()), error = null",
            workerId, "leased", p => p.AddWithValue("lease", lease), cancellation);
        if (started is null)
        {
            return null;
        }
        var job = await GetJobAsync(jobId, cancellation);
        return new JobLease(jobId, job!.Value.Summary.RunId, started.Value.Attempt, job.Value.Spec);
    }

    public async Task<bool> SucceedAsync(string jobId, int attempt, string evaluationJson, IReadOnlyDictionary<string, double> summary, CancellationToken cancellation = default) =>
        await TransitionAsync(jobId, "j.state = 'Running' and j.attempt = @attempt",
            "state = 'Succeeded', progress = 1, epoch = j.total_epochs, step = j.total_steps, finished_at = now(), lease_expires_at = null, " +
            "evaluation = @evaluation, summary = @summary",
            null, "succeeded", p =>
            {
                p.AddWithValue("attempt", attempt);
                p.AddWithValue("evaluation", NpgsqlDbType.Jsonb, evaluationJson);
                p.AddWithValue("summary", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(summary));
            }, cancellation) is not null;

    /// <summary>Running (at this attempt) → Queued when retryable and attempts remain, else → Failed; the error is kept.</summary>
    public async Task<JobState?> FailAsync(string jobId, int attempt, string error, bool retryable, CancellationToken cancellation = default) =>
        (await TransitionAsync(jobId, "j.state = 'Running' and j.attempt = @attempt",
            "state = case when @retryable and j.attempt < j.max_attempts then 'Queued' else 'Failed' end, " +
            "worker_id = null, lease_expires_at = null, error = @error, " +
            "finished_at = case when @retryable and j.attempt < j.max_attempts then null else now() end",
            null, error, p =>
            {
                p.AddWithValue("attempt", attempt);
                p.AddWithValue("retryable", retryable);
                p.AddWithValue("error", error);
            }, cancellation))?.State;

    /// <summary>Queued | Running → Cancelled. Null when the job does not exist; its current state when it could not be cancelled.</summary>
    public async Task<(bool Changed, JobState State)?> CancelAsync(string jobId, string reason, CancellationToken cancellation = default)
    {
        var cancelled = await TransitionAsync(jobId, "j.state in ('Queued', 'Running')",
            "state = 'Cancelled', finished_at = now(), lease_expires_at = null", null, reason, null, cancellation);
        if (cancelled is not null)
        {
            return (true, JobState.Cancelled);
        }
        var job = await GetJobAsync(jobId, cancellation);
        return job is null ? null : (false, job.Value.Summary.State);
    }

    /// <summary>Failed | Cancelled → Queued with a fresh budget of attempts. Null when the job does not exist.</summary>
    public async Task<(bool Changed, JobState State)?> RetryAsync(string jobId, int extraAttempts, CancellationToken cancellation = default)
    {
        var retried = await TransitionAsync(jobId, "j.state in ('Failed', 'Cancelled')",
            "state = 'Queued', max_attempts = j.attempt + @extra, finished_at = null, worker_id = null, progress = 0",
            null, "retry", p => p.AddWithValue("extra", extraAttempts), cancellation);
        if (retried is not null)
        {
            return (true, JobState.Queued);
        }
        var job = await GetJobAsync(jobId, cancellation);
        return job is null ? null : (false, job.Value.Summary.State);
    }

    /// <summary>The queued jobs (all, or the one asked for) with what the scheduler orders and matches them by.</summary>
    public async Task<IReadOnlyList<QueuedJob>> QueuedJobsAsync(string? jobId = null, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand(
            "select job_id, priority, created_at, device from jobs where state = 'Queued' and (@job::text is null or job_id = @job)");
        command.Parameters.AddWithValue("job", NpgsqlDbType.Text, (object?)jobId ?? DBNull.Value);
        var result = new List<QueuedJob>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            result.Add(new QueuedJob(reader.GetString(0), reader.GetInt32(1), reader.GetFieldValue<DateTimeOffset>(2), reader.GetString(3)));
        }
        return result;
    }

    public sealed record RunningLease(string JobId, int Attempt, string WorkerId, DateTimeOffset ExpiresAt);

    public async Task<IReadOnlyList<RunningLease>> RunningLeasesAsync(CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand(
            "select job_id, attempt, coalesce(worker_id, ''), coalesce(lease_expires_at, now()) from jobs where state = 'Running'");
        var result = new List<RunningLease>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            result.Add(new RunningLease(reader.GetString(0), reader.GetInt32(1), reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3)));
        }
        return result;
    }

    /// <summary>Records heartbeat progress and extends the leases, for the reports whose attempt still holds the job.</summary>
    public async Task RecordHeartbeatAsync(WorkerRegistration worker, IReadOnlyList<JobProgressReport> reports, TimeSpan lease, CancellationToken cancellation = default)
    {
        var batch = dataSource.CreateBatch();
        var upsert = new NpgsqlBatchCommand(
            "insert into workers (worker_id, silo, device, slots, memory_mb, running) values (@w, @silo, @device, @slots, @memory, @running) " +
            "on conflict (worker_id) do update set silo = excluded.silo, device = excluded.device, slots = excluded.slots, " +
            "memory_mb = excluded.memory_mb, running = excluded.running, last_heartbeat = now()");
        upsert.Parameters.AddWithValue("w", worker.WorkerId);
        upsert.Parameters.AddWithValue("silo", worker.Silo);
        upsert.Parameters.AddWithValue("device", worker.Device);
        upsert.Parameters.AddWithValue("slots", worker.Slots);
        upsert.Parameters.AddWithValue("memory", worker.MemoryMegabytes);
        upsert.Parameters.AddWithValue("running", reports.Count);
        batch.BatchCommands.Add(upsert);
        foreach (var report in reports)
        {
            var progress = new NpgsqlBatchCommand(
                "update jobs set progress = @progress, epoch = @epoch, total_epochs = @epochs, step = @step, total_steps = @steps, " +
                "lease_expires_at = now() + @lease, updated_at = now() where job_id = @job and attempt = @attempt and state = 'Running'");
            progress.Parameters.AddWithValue("progress", report.Progress);
            progress.Parameters.AddWithValue("epoch", report.Epoch);
            progress.Parameters.AddWithValue("epochs", report.TotalEpochs);
            progress.Parameters.AddWithValue("step", report.Step);
            progress.Parameters.AddWithValue("steps", report.TotalSteps);
            progress.Parameters.AddWithValue("lease", lease);
            progress.Parameters.AddWithValue("job", report.JobId);
            progress.Parameters.AddWithValue("attempt", report.Attempt);
            batch.BatchCommands.Add(progress);
        }
        await using (batch)
        {
            await batch.ExecuteNonQueryAsync(cancellation);
        }
    }

    public async Task<IReadOnlyList<WorkerView>> ListWorkersAsync(TimeSpan aliveWithin, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand(
            "select worker_id, silo, device, slots, running, last_heartbeat, last_heartbeat > now() - @alive from workers order by worker_id");
        command.Parameters.AddWithValue("alive", aliveWithin);
        var result = new List<WorkerView>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            result.Add(new WorkerView(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3),
                reader.GetInt32(4), reader.GetFieldValue<DateTimeOffset>(5), reader.GetBoolean(6)));
        }
        return result;
    }

    public async Task<IReadOnlyList<TraitResultRow>> GetTraitResultsAsync(string runId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand(
            "select job_id, coalesce(target, ''), state, (evaluation->>'accuracy')::float8, (evaluation->>'precision')::float8, " +
            "(evaluation->>'recall')::float8, (evaluation->>'f1')::float8, (evaluation->>'test_positives')::int, (evaluation->>'seconds')::float8 " +
            "from jobs where run_id = @run order by target");
        command.Parameters.AddWithValue("run", runId);
        var result = new List<TraitResultRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        double? D(int i) => reader.IsDBNull(i) ? null : reader.GetDouble(i);
        while (await reader.ReadAsync(cancellation))
        {
            result.Add(new TraitResultRow(reader.GetString(0), reader.GetString(1), Enum.Parse<JobState>(reader.GetString(2)),
                D(3), D(4), D(5), D(6), reader.IsDBNull(7) ? null : reader.GetInt32(7), D(8)));
        }
        return result;
    }
}
