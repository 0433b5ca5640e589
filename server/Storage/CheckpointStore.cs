using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using PunkGrid.Server.Telemetry;
using PunkGrid.Training.Checkpoints;

namespace PunkGrid.Server.Storage;

/// <summary>
/// A job's checkpoints in PostgreSQL (<c>checkpoints</c>): <c>bytea</c> with size and SHA-256, written fenced by the
/// writer's attempt (<see cref="AttemptFence"/>), verified on read, and pruned to the last 2 plus the best. A checkpoint
/// written twice (a retry after an ambiguous failure) is pruned like any other.
/// </summary>
public sealed partial class CheckpointStore(NpgsqlDataSource dataSource, ILogger<CheckpointStore> logger)
{
    public async Task SaveAsync(string jobId, int attempt, TrainingCheckpoint checkpoint, CancellationToken cancellation = default)
    {
        using var activity = PunkGridTelemetry.Source.StartActivity("checkpoint");
        var bytes = CheckpointCodec.Encode(checkpoint);
        activity?.SetTag("punkgrid.job_id", jobId).SetTag("punkgrid.attempt", attempt).SetTag("punkgrid.epoch", checkpoint.Epoch).SetTag("punkgrid.bytes", bytes.Length);
        PunkGridTelemetry.CheckpointBytes.Record(bytes.Length);
        await using (var insert = dataSource.CreateCommand($"""
            with {AttemptFence.Cte}
            insert into checkpoints (job_id, attempt, epoch, step, score, size_bytes, sha256, data)
            select job_id, @attempt, @epoch, @step, @score, @size, @sha, @data from fence
            """))
        {
            insert.CommandTimeout = 300;
            insert.Parameters.AddWithValue("job", jobId);
            insert.Parameters.AddWithValue("attempt", attempt);
            insert.Parameters.AddWithValue("epoch", checkpoint.Epoch);
            insert.Parameters.AddWithValue("step", checkpoint.Step);
            insert.Parameters.AddWithValue("score", NpgsqlDbType.Double, (object?)checkpoint.Score ?? DBNull.Value);
            insert.Parameters.AddWithValue("size", (long)bytes.Length);
            insert.Parameters.AddWithValue("sha", SHA256.HashData(bytes));
            insert.Parameters.AddWithValue("data", bytes);
            if (await insert.ExecuteNonQueryAsync(cancellation) == 0)
            {
                throw await AttemptFence.RejectedAsync(dataSource, jobId, attempt, cancellation);
            }
        }
        await PruneAsync(jobId, cancellation);
    }

    /// <summary>Keeps the last 2 checkpoints and the best (<see cref="CheckpointRetention"/>).</summary>
    private async Task PruneAsync(string jobId, CancellationToken cancellation)
    {
        var entries = new List<CheckpointRetention.Entry<long>>();
        await using (var list = dataSource.CreateCommand("""
            select id, epoch, score from checkpoints where job_id = @job
            """))
        {
            list.Parameters.AddWithValue("job", jobId);
            await using var reader = await list.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
            {
                entries.Add(new(reader.Long("id"), reader.Int("epoch"), reader.DoubleOrNull("score")));
            }
        }
        var doomed = CheckpointRetention.ToDelete(entries);
        if (doomed.Count > 0)
        {
            await using var prune = dataSource.CreateCommand("""
                delete from checkpoints where id = any(@ids)
                """);
            prune.Parameters.AddWithValue("ids", doomed.ToArray());
            await prune.ExecuteNonQueryAsync(cancellation);
        }
    }

    /// <summary>
    /// The newest checkpoint of the job whose size and SHA-256 match and which decodes; corrupt rows are logged and
    /// skipped (never deleted). Null when there is none.
    /// </summary>
    public async Task<TrainingCheckpoint?> LatestAsync(string jobId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select id, size_bytes, sha256, data from checkpoints where job_id = @job order by epoch desc, id desc
            """);
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            var (id, size, sha, data) = (reader.Long("id"), reader.Long("size_bytes"), reader.GetFieldValue<byte[]>(reader.GetOrdinal("sha256")),
                reader.GetFieldValue<byte[]>(reader.GetOrdinal("data")));
            if (data.LongLength != size || !SHA256.HashData(data).AsSpan().SequenceEqual(sha))
            {
                LogChecksumMismatch(logger, id, jobId);
                continue;
            }
            try
            {
                return CheckpointCodec.Decode(data);
            }
            catch (CheckpointFormatException ex)
            {
                LogUnusable(logger, id, jobId, ex.Message);
            }
        }
        return null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Checkpoint {Id} of job {Job} fails its size/SHA-256 check; skipping it")]
    private static partial void LogChecksumMismatch(ILogger logger, long id, string job);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Checkpoint {Id} of job {Job} is unusable ({Reason}); skipping it")]
    private static partial void LogUnusable(ILogger logger, long id, string job, string reason);
}
