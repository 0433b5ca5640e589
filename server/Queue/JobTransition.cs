using Npgsql;
using NpgsqlTypes;
using PunkGrid.Contracts;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Queue;

/// <summary>
/// One state transition of one job as one statement: lock the row (<c>for update</c>, which waits for any fenced write
/// in flight), apply <c>set</c> if <c>condition</c> holds, append the event. Concurrent or stale callers can never move
/// a job twice, and a caller that retries after an ambiguous failure learns where the job stands.
/// </summary>
internal static class JobTransition
{
    /// <summary>Whether the transition applied, and the job's state and attempt afterwards (or as found, when it did not).</summary>
    public readonly record struct Outcome(bool Applied, JobState State, int Attempt);

    /// <summary>Null when no job has this id.</summary>
    public static async Task<Outcome?> ApplyAsync(
        NpgsqlDataSource dataSource, string jobId, string condition, string setClause, string? workerId, string? detail,
        Action<NpgsqlParameterCollection>? bind, CancellationToken cancellation)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            with old as (select job_id, state, attempt from jobs where job_id = @job for update),
            changed as (update jobs j set {setClause}, updated_at = now() from old where j.job_id = old.job_id and ({condition})
            returning j.job_id, j.attempt, j.state, old.state as from_state),
            events as (insert into job_events (job_id, attempt, from_state, to_state, worker_id, detail)
            select job_id, attempt, from_state, state, @worker, @detail from changed)
            select coalesce(c.state, o.state) as state, coalesce(c.attempt, o.attempt) as attempt, c.job_id is not null as applied
            from old o left join changed c on true
            """);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("worker", NpgsqlDbType.Text, (object?)workerId ?? DBNull.Value);
        command.Parameters.AddWithValue("detail", NpgsqlDbType.Text, (object?)detail ?? DBNull.Value);
        bind?.Invoke(command.Parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        if (!await reader.ReadAsync(cancellation))
        {
            return null;
        }
        return new Outcome(reader.Bool("applied"), Enum.Parse<JobState>(reader.Text("state")), reader.Int("attempt"));
    }
}
