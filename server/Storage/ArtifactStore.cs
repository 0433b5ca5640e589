using System.Security.Cryptography;
using Npgsql;
using PunkGrid.Contracts;

namespace PunkGrid.Server.Storage;

/// <summary>
/// A job's artifacts in PostgreSQL (<c>artifacts</c>: <c>model.bin</c>, <c>eval.json</c>, images): one row per job and
/// name, upserted fenced by the writer's attempt (<see cref="AttemptFence"/>, so a retried write is harmless), with size
/// and SHA-256 verified on read.
/// </summary>
public sealed class ArtifactStore(NpgsqlDataSource dataSource)
{
    public async Task SaveAsync(string jobId, int attempt, string name, string contentType, byte[] content, CancellationToken cancellation = default)
    {
        await using var upsert = dataSource.CreateCommand($"""
            with {AttemptFence.Cte}
            insert into artifacts (job_id, name, attempt, content_type, size_bytes, sha256, data)
            select job_id, @name, @attempt, @type, @size, @sha, @data from fence
            on conflict (job_id, name) do update
            set attempt = excluded.attempt, content_type = excluded.content_type, size_bytes = excluded.size_bytes,
                sha256 = excluded.sha256, data = excluded.data, created_at = now()
            """);
        upsert.CommandTimeout = 300;
        upsert.Parameters.AddWithValue("job", jobId);
        upsert.Parameters.AddWithValue("name", name);
        upsert.Parameters.AddWithValue("attempt", attempt);
        upsert.Parameters.AddWithValue("type", contentType);
        upsert.Parameters.AddWithValue("size", (long)content.Length);
        upsert.Parameters.AddWithValue("sha", SHA256.HashData(content));
        upsert.Parameters.AddWithValue("data", content);
        if (await upsert.ExecuteNonQueryAsync(cancellation) == 0)
        {
            throw await AttemptFence.RejectedAsync(dataSource, jobId, attempt, cancellation);
        }
    }

    public async Task<IReadOnlyList<ArtifactInfo>> ListAsync(string jobId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select name, content_type, size_bytes, sha256, attempt, created_at from artifacts where job_id = @job order by name
            """);
        command.Parameters.AddWithValue("job", jobId);
        var result = new List<ArtifactInfo>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            result.Add(ReadInfo(reader));
        }
        return result;
    }

    /// <summary>An artifact's bytes and description; null when the job has none of that name; an error when it fails its check.</summary>
    public async Task<ArtifactContent?> ReadAsync(string jobId, string name, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select name, content_type, size_bytes, sha256, attempt, created_at, data from artifacts where job_id = @job and name = @name
            """);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("name", name);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        if (!await reader.ReadAsync(cancellation))
        {
            return null;
        }
        var info = ReadInfo(reader);
        var data = reader.GetFieldValue<byte[]>(reader.GetOrdinal("data"));
        if (data.LongLength != info.SizeBytes || Convert.ToHexStringLower(SHA256.HashData(data)) != info.Sha256)
        {
            throw new InvalidDataException($"artifact {name} of job {jobId} fails its size/SHA-256 check");
        }
        return new ArtifactContent(info, data);
    }

    private static ArtifactInfo ReadInfo(NpgsqlDataReader reader) => new(
        reader.GetString(reader.GetOrdinal("name")),
        reader.GetString(reader.GetOrdinal("content_type")),
        reader.GetInt64(reader.GetOrdinal("size_bytes")),
        Convert.ToHexStringLower(reader.GetFieldValue<byte[]>(reader.GetOrdinal("sha256"))),
        reader.GetInt32(reader.GetOrdinal("attempt")),
        reader.GetFieldValue<DateTimeOffset>(reader.GetOrdinal("created_at")));
}
