using Npgsql;

namespace PunkGrid.Server.Storage;

/// <summary>A write from an attempt that no longer holds its job (its lease expired and the job moved on, or it was cancelled).</summary>
public sealed class StaleAttemptException(string jobId, int attempt, string actual)
    : Exception($"job {jobId}: attempt {attempt} no longer holds the job ({actual}); its write was rejected")
{
    public string JobId { get; } = jobId;

    public int Attempt { get; } = attempt;
}

/// <summary>
/// How every write of a training attempt is fenced: one statement that locks the job row (<c>for key share</c>) and
/// writes only if the job is Running at the writer's attempt, so a stale attempt's write is rejected and cannot race a
/// transition (transitions lock the row <c>for update</c>, which waits for the write). One statement, so a writer that
/// freezes or dies mid-upload holds no lock: the row is locked only while the server executes the statement, after the
/// bytes arrived. <c>key share</c> rather than <c>share</c> so that heartbeats (plain updates of the progress columns)
/// are never blocked by a large checkpoint being written.
/// </summary>
internal static class AttemptFence
{
    /// <summary>The CTE (<c>with fence as …</c>) that locks the job row if, and only if, attempt <c>@attempt</c> holds job <c>@job</c>.</summary>
    public const string Cte = """
        fence as (select job_id from jobs where job_id = @job and attempt = @attempt and state = 'Running' for key share)
        """;

    /// <summary>Why a fenced write wrote nothing: the job's state and attempt now.</summary>
    public static async Task<StaleAttemptException> RejectedAsync(NpgsqlDataSource dataSource, string jobId, int attempt, CancellationToken cancellation)
    {
        await using var command = dataSource.CreateCommand("""
            select state, attempt from jobs where job_id = @job
            """);
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        return await reader.ReadAsync(cancellation)
            ? new StaleAttemptException(jobId, attempt, $"it is {reader.GetString(0)} at attempt {reader.GetInt32(1)}")
            : new StaleAttemptException(jobId, attempt, "no such job");
    }
}
