using Npgsql;
using PunkGrid.Contracts;

namespace PunkGrid.Server.Storage;

/// <summary>
/// A log line on its way to PostgreSQL; <see cref="Key"/> makes a batch sent twice (a lost commit answer) store it once.
/// <see cref="SaidByAttempt"/>: said by the attempt's own worker or trainer (which may have lost the job without knowing),
/// not by the queue about it.
/// </summary>
public sealed record JobLogEntry(Guid Key, string JobId, int Attempt, DateTimeOffset At, string Level, string Source, string Message, bool SaidByAttempt = true);

/// <summary>The size of the job logs, for <c>/metrics</c>.</summary>
public sealed record JobLogSize(long Lines, long Bytes);

/// <summary>
/// Jobs' logs in PostgreSQL (<c>job_logs</c>): written in batches, each line an attempt said itself marked superseded when
/// it was said after a newer attempt of its job had started (lines wait in a silo's memory before they are written, so what counts is when
/// a line was said, by the silo's clock, against when the newer attempt was leased, by the database's), each job kept to its newest lines (the count of those dropped in <c>job_log_dropped</c>); read in pages
/// by a cursor (the last line id seen), so a follower reads only what is new.
/// </summary>
public sealed class JobLogStore(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// Stores a batch of lines (lines of jobs that no longer exist are skipped; a line already stored is not stored again)
    /// and drops each job's oldest lines beyond <paramref name="maxLinesPerJob"/>, in one transaction.
    /// </summary>
    public async Task WriteAsync(IReadOnlyList<JobLogEntry> lines, int maxLinesPerJob, CancellationToken cancellation = default)
    {
        if (lines.Count == 0)
        {
            return;
        }
        await using var connection = await dataSource.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        await using (var insert = new NpgsqlCommand("""
            insert into job_logs (line_key, job_id, attempt, at, level, source, message, superseded)
            select l.line_key, l.job_id, l.attempt, l.at, l.level, l.source, l.message,
                   l.said_by_attempt and exists (select 1 from job_events e
                           where e.job_id = l.job_id and e.attempt > l.attempt and e.to_state = 'Running' and e.at <= l.at)
            from unnest(@keys::uuid[], @jobs::text[], @attempts::int[], @ats::timestamptz[], @levels::text[], @sources::text[], @messages::text[], @said::bool[])
                 with ordinality as l(line_key, job_id, attempt, at, level, source, message, said_by_attempt, n)
            join jobs j on j.job_id = l.job_id
            order by l.n
            on conflict (line_key) do nothing
            """, connection, transaction))
        {
            insert.Parameters.AddWithValue("keys", lines.Select(l => l.Key).ToArray());
            insert.Parameters.AddWithValue("jobs", lines.Select(l => l.JobId).ToArray());
            insert.Parameters.AddWithValue("attempts", lines.Select(l => l.Attempt).ToArray());
            insert.Parameters.AddWithValue("ats", lines.Select(l => l.At).ToArray());
            insert.Parameters.AddWithValue("levels", lines.Select(l => l.Level).ToArray());
            insert.Parameters.AddWithValue("sources", lines.Select(l => l.Source).ToArray());
            insert.Parameters.AddWithValue("messages", lines.Select(l => l.Message).ToArray());
            insert.Parameters.AddWithValue("said", lines.Select(l => l.SaidByAttempt).ToArray());
            await insert.ExecuteNonQueryAsync(cancellation);
        }
        await using (var trim = new NpgsqlCommand("""
            with cut as (
                select j.job_id, c.id
                from unnest(@jobs::text[]) as j(job_id)
                cross join lateral (select id from job_logs l where l.job_id = j.job_id order by id desc offset @keep limit 1) c),
            deleted as (
                delete from job_logs d using cut where d.job_id = cut.job_id and d.id <= cut.id returning d.job_id)
            insert into job_log_dropped (job_id, lines)
            select job_id, count(*) from deleted group by job_id
            on conflict (job_id) do update set lines = job_log_dropped.lines + excluded.lines
            """, connection, transaction))
        {
            trim.Parameters.AddWithValue("jobs", lines.Select(l => l.JobId).Distinct(StringComparer.Ordinal).ToArray());
            trim.Parameters.AddWithValue("keep", maxLinesPerJob);
            await trim.ExecuteNonQueryAsync(cancellation);
        }
        await transaction.CommitAsync(cancellation);
    }

    /// <summary>A page of the job's log (see <see cref="JobLogQuery"/>); null when no job has this id.</summary>
    public async Task<JobLogPage?> ReadAsync(string jobId, JobLogQuery query, CancellationToken cancellation = default)
    {
        var limit = Math.Clamp(query.Limit, 1, JobLogQuery.MaxLimit);
        await using var connection = await dataSource.OpenConnectionAsync(cancellation);
        await using var command = new NpgsqlCommand($"""
            select l.id, l.attempt, l.at, l.level, l.source, l.message, l.superseded
            from job_logs l
            where l.job_id = @job and l.id > @after and (@attempt::int is null or l.attempt = @attempt)
            order by l.id {(query.Tail ? "desc" : "asc")}
            limit @limit
            """, connection);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("after", query.After);
        command.Parameters.Add(new NpgsqlParameter<int?>("attempt", NpgsqlTypes.NpgsqlDbType.Integer) { TypedValue = query.Attempt });
        command.Parameters.AddWithValue("limit", limit + 1);
        var lines = new List<JobLogLine>();
        await using (var reader = await command.ExecuteReaderAsync(cancellation))
        {
            while (await reader.ReadAsync(cancellation))
            {
                lines.Add(new JobLogLine(reader.Long("id"), reader.Int("attempt"), reader.Time("at"), reader.Text("level"), reader.Text("source"),
                    reader.Text("message"), reader.Bool("superseded")));
            }
        }
        var more = lines.Count > limit;
        if (more)
        {
            lines.RemoveAt(lines.Count - 1);
        }
        if (query.Tail)
        {
            lines.Reverse();
        }
        await using var job = new NpgsqlCommand("""
            select j.job_id, coalesce(d.lines, 0) as dropped
            from jobs j left join job_log_dropped d on d.job_id = j.job_id
            where j.job_id = @job
            """, connection);
        job.Parameters.AddWithValue("job", jobId);
        await using var row = await job.ExecuteReaderAsync(cancellation);
        if (!await row.ReadAsync(cancellation))
        {
            return null;
        }
        return new JobLogPage(lines, lines.Count > 0 ? lines[^1].Id : query.After, more, row.Long("dropped"));
    }

    /// <summary>How many lines the logs hold and the bytes their table takes (with its indexes).</summary>
    public async Task<JobLogSize> SizeAsync(CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select (select count(*) from job_logs) as lines, pg_total_relation_size('job_logs') as bytes
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        await reader.ReadAsync(cancellation);
        return new JobLogSize(reader.Long("lines"), reader.Long("bytes"));
    }
}
