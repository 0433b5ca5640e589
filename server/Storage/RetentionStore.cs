using Npgsql;
using PunkGrid.Contracts;

namespace PunkGrid.Server.Storage;

/// <summary>
/// Retention for old runs (<c>punkgrid gc --older-than</c>, or <c>PunkGrid:Retention:OlderThan</c> on a timer): a run
/// whose jobs have all ended, the last before the cutoff, loses its jobs' log lines, its metric points between epoch ends
/// (each metric of each attempt keeps the last point of every epoch, and the 64-step roll-ups are rebuilt from what is
/// kept), and its checkpoints (a retried job of such a run starts from scratch). It keeps the run, its jobs, their
/// results and summaries, and every artifact — the models that <c>predict</c> and <c>generate</c> load. One run per
/// transaction, so a long collection holds no lock for long; an advisory lock lets one silo collect at a time.
/// </summary>
public sealed class RetentionStore(NpgsqlDataSource dataSource)
{
    private const long RetentionLockKey = 0x50756e6b52657400; // "PunkRet\0"

    /// <summary>The runs retention applies to: ended (no job Queued or Running), the last job before the cutoff, with something left to remove.</summary>
    private const string EligibleRuns = """
        select r.run_id
        from runs r
        where r.created_at < @cutoff
          and not exists (select 1 from jobs j where j.run_id = r.run_id
                          and (j.state in ('Queued', 'Running') or coalesce(j.finished_at, j.updated_at) >= @cutoff))
          and exists (select 1 from jobs j where j.run_id = r.run_id
                      and (exists (select 1 from checkpoints c where c.job_id = j.job_id)
                           or exists (select 1 from job_logs l where l.job_id = j.job_id)
                           or exists (select 1 from metrics m where m.job_id = j.job_id and m.step < (
                                  select max(e.step) from metrics e
                                  where e.job_id = m.job_id and e.name = m.name and e.attempt = m.attempt and e.epoch = m.epoch))))
        order by r.created_at, r.run_id
        """;

    /// <summary>What each run would lose: log lines, metric points between epoch ends, checkpoints and their bytes.</summary>
    private const string Doomed = """
        with jobs_of_run as (select job_id from jobs where run_id = @run),
        epoch_ends as (
            select m.job_id, m.name, m.attempt, m.epoch, max(m.step) as step
            from metrics m join jobs_of_run j using (job_id)
            group by m.job_id, m.name, m.attempt, m.epoch)
        select
            (select count(*) from job_logs l join jobs_of_run j using (job_id)) as log_lines,
            (select count(*) from metrics m join epoch_ends e using (job_id, name, attempt, epoch) where m.step < e.step) as metric_points,
            (select count(*) from checkpoints c join jobs_of_run j using (job_id)) as checkpoints,
            (select coalesce(sum(c.size_bytes), 0) from checkpoints c join jobs_of_run j using (job_id)) as checkpoint_bytes
        """;

    /// <summary>
    /// Removes what retention takes from one run. Its jobs' rows are share-locked and must all have ended, so a job retried
    /// since the run was chosen keeps its checkpoints (a retry waits for this transaction, or this removes nothing).
    /// </summary>
    private const string Remove = """
        with run_jobs as (select job_id, state from jobs where run_id = @run for share),
        jobs_of_run as (select job_id from run_jobs where not exists (select 1 from run_jobs where state in ('Queued', 'Running'))),
        logs as (delete from job_logs l using jobs_of_run j where l.job_id = j.job_id returning 1),
        dropped as (delete from job_log_dropped d using jobs_of_run j where d.job_id = j.job_id returning 1),
        epoch_ends as (
            select m.job_id, m.name, m.attempt, m.epoch, max(m.step) as step
            from metrics m join jobs_of_run j using (job_id)
            group by m.job_id, m.name, m.attempt, m.epoch),
        points as (
            delete from metrics m using epoch_ends e
            where m.job_id = e.job_id and m.name = e.name and m.attempt = e.attempt and m.epoch = e.epoch and m.step < e.step
            returning 1),
        blocks as (delete from metric_blocks b using jobs_of_run j where b.job_id = j.job_id returning 1),
        saved as (delete from checkpoints c using jobs_of_run j where c.job_id = j.job_id returning c.size_bytes)
        select (select count(*) from logs) as log_lines, (select count(*) from points) as metric_points,
               (select count(*) from saved) as checkpoints, (select coalesce(sum(size_bytes), 0) from saved) as checkpoint_bytes
        """;

    /// <summary>The 64-step roll-ups of a run's metrics, rebuilt from the points kept (as migration 0008 first built them).</summary>
    private const string RollUp = """
        insert into metric_blocks (job_id, name, block, points, total, first_step, last_step, last_attempt, last_epoch)
        select m.job_id, m.name, m.step >> 6, count(*), sum(m.value), min(m.step), max(m.step), max(m.attempt), max(m.epoch)
        from metrics m join jobs j on j.job_id = m.job_id
        where j.run_id = @run
        group by m.job_id, m.name, m.step >> 6
        """;

    /// <summary>
    /// Applies retention to at most <see cref="RetentionRequest.MaxRuns"/> of the runs that ended before the cutoff (with
    /// <see cref="RetentionRequest.DryRun"/>, counts what it would remove from all of them). Null when another silo is collecting.
    /// </summary>
    public async Task<RetentionReport?> CollectAsync(RetentionRequest request, CancellationToken cancellation = default)
    {
        var dryRun = request.DryRun;
        await using var gate = await dataSource.OpenConnectionAsync(cancellation);
        await using (var lockCommand = new NpgsqlCommand("select pg_try_advisory_lock(@key)", gate))
        {
            lockCommand.Parameters.AddWithValue("key", RetentionLockKey);
            if (!(bool)(await lockCommand.ExecuteScalarAsync(cancellation))!)
            {
                return null;
            }
        }
        try
        {
            DateTimeOffset cutoff;
            await using (var clock = new NpgsqlCommand("select coalesce(@cutoff, now() - @age)", gate))
            {
                clock.Parameters.Add(new NpgsqlParameter<DateTimeOffset?>("cutoff", NpgsqlTypes.NpgsqlDbType.TimestampTz) { TypedValue = request.Cutoff });
                clock.Parameters.AddWithValue("age", request.OlderThan);
                cutoff = (DateTimeOffset)(DateTime)(await clock.ExecuteScalarAsync(cancellation))!;
            }
            var runs = new List<string>();
            await using (var eligible = new NpgsqlCommand(EligibleRuns, gate))
            {
                eligible.Parameters.AddWithValue("cutoff", cutoff);
                await using var reader = await eligible.ExecuteReaderAsync(cancellation);
                while (await reader.ReadAsync(cancellation))
                {
                    runs.Add(reader.Text("run_id"));
                }
            }
            var remaining = dryRun ? 0 : Math.Max(0, runs.Count - request.MaxRuns);
            if (!dryRun)
            {
                runs = runs.Take(request.MaxRuns).ToList();
            }
            long logLines = 0, metricPoints = 0, checkpoints = 0, bytes = 0;
            foreach (var run in runs)
            {
                var (l, m, c, b) = dryRun ? await CountAsync(run, cancellation) : await RemoveAsync(run, cancellation);
                (logLines, metricPoints, checkpoints, bytes) = (logLines + l, metricPoints + m, checkpoints + c, bytes + b);
            }
            return new RetentionReport(cutoff, dryRun, runs, logLines, metricPoints, checkpoints, bytes, remaining);
        }
        finally
        {
            await using var unlock = new NpgsqlCommand("select pg_advisory_unlock(@key)", gate);
            unlock.Parameters.AddWithValue("key", RetentionLockKey);
            await unlock.ExecuteScalarAsync(CancellationToken.None);
        }
    }

    private async Task<(long LogLines, long MetricPoints, long Checkpoints, long Bytes)> CountAsync(string run, CancellationToken cancellation)
    {
        await using var command = dataSource.CreateCommand(Doomed);
        command.Parameters.AddWithValue("run", run);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        await reader.ReadAsync(cancellation);
        return (reader.Long("log_lines"), reader.Long("metric_points"), reader.Long("checkpoints"), reader.Long("checkpoint_bytes"));
    }

    private async Task<(long LogLines, long MetricPoints, long Checkpoints, long Bytes)> RemoveAsync(string run, CancellationToken cancellation)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        (long, long, long, long) removed;
        await using (var remove = new NpgsqlCommand(Remove, connection, transaction))
        {
            remove.Parameters.AddWithValue("run", run);
            await using var reader = await remove.ExecuteReaderAsync(cancellation);
            await reader.ReadAsync(cancellation);
            removed = (reader.Long("log_lines"), reader.Long("metric_points"), reader.Long("checkpoints"), reader.Long("checkpoint_bytes"));
        }
        await using (var rollUp = new NpgsqlCommand(RollUp, connection, transaction))
        {
            rollUp.Parameters.AddWithValue("run", run);
            await rollUp.ExecuteNonQueryAsync(cancellation);
        }
        await transaction.CommitAsync(cancellation);
        return removed;
    }
}
