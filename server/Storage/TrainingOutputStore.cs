using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using PunkGrid.Contracts;
using PunkGrid.Server.Telemetry;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Server.Storage;

/// <summary>A write from an attempt that no longer holds its job (its lease expired and the job moved on, or it was cancelled).</summary>
public sealed class StaleAttemptException(string jobId, int attempt, string actual)
    : Exception($"job {jobId}: attempt {attempt} no longer holds the job ({actual}); its write was rejected")
{
    public string JobId { get; } = jobId;

    public int Attempt { get; } = attempt;
}

/// <summary>
/// Checkpoints, metrics and artifacts in PostgreSQL. Every write is fenced and is one statement: it locks the job row
/// (<c>for key share</c>) and writes only if the job is Running at the writer's attempt, so a stale attempt's write is
/// rejected and cannot race a transition (transitions lock the row <c>for update</c>, which waits for the write). One
/// statement, so a writer that freezes or dies mid-upload holds no lock: the row is locked only while the server executes
/// the statement, after the bytes arrived. <c>key share</c> rather than <c>share</c> so that heartbeats (plain updates of the
/// progress columns) are never blocked by a large checkpoint being written. Each write may be retried after an
/// ambiguous failure: metrics ignore points already stored, artifacts are upserts, a repeated checkpoint is pruned.
/// Checkpoints are <c>bytea</c> with size and SHA-256, verified on read, and pruned to the last 2 plus the best.
/// </summary>
public sealed partial class TrainingOutputStore(NpgsqlDataSource dataSource, ILogger<TrainingOutputStore> logger)
{
    /// <summary>The CTE that locks the job row if, and only if, the writer's attempt holds the job.</summary>
    private const string Fence = "fence as (select job_id from jobs where job_id = @job and attempt = @attempt and state = 'Running' for key share)";

    private async Task<StaleAttemptException> RejectedAsync(string jobId, int attempt, CancellationToken cancellation)
    {
        await using var command = dataSource.CreateCommand("select state, attempt from jobs where job_id = @job");
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        return await reader.ReadAsync(cancellation)
            ? new StaleAttemptException(jobId, attempt, $"it is {reader.GetString(0)} at attempt {reader.GetInt32(1)}")
            : new StaleAttemptException(jobId, attempt, "no such job");
    }

    public async Task SaveCheckpointAsync(string jobId, int attempt, TrainingCheckpoint checkpoint, CancellationToken cancellation = default)
    {
        using var activity = PunkGridTelemetry.Source.StartActivity("checkpoint");
        var bytes = CheckpointCodec.Encode(checkpoint);
        activity?.SetTag("punkgrid.job_id", jobId).SetTag("punkgrid.attempt", attempt).SetTag("punkgrid.epoch", checkpoint.Epoch).SetTag("punkgrid.bytes", bytes.Length);
        PunkGridTelemetry.CheckpointBytes.Record(bytes.Length);
        await using (var insert = dataSource.CreateCommand(
            $"with {Fence} insert into checkpoints (job_id, attempt, epoch, step, score, size_bytes, sha256, data) " +
            "select job_id, @attempt, @epoch, @step, @score, @size, @sha, @data from fence"))
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
                throw await RejectedAsync(jobId, attempt, cancellation);
            }
        }

        var entries = new List<CheckpointRetention.Entry<long>>();
        await using (var list = dataSource.CreateCommand("select id, epoch, score from checkpoints where job_id = @job"))
        {
            list.Parameters.AddWithValue("job", jobId);
            await using var reader = await list.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
            {
                entries.Add(new(reader.GetInt64(0), reader.GetInt32(1), reader.IsDBNull(2) ? null : reader.GetDouble(2)));
            }
        }
        var doomed = CheckpointRetention.ToDelete(entries);
        if (doomed.Count > 0)
        {
            await using var prune = dataSource.CreateCommand("delete from checkpoints where id = any(@ids)");
            prune.Parameters.AddWithValue("ids", doomed.ToArray());
            await prune.ExecuteNonQueryAsync(cancellation);
        }
    }

    /// <summary>
    /// The newest checkpoint of the job whose size and SHA-256 match and which decodes; corrupt rows are logged and
    /// skipped (never deleted). Null when there is none.
    /// </summary>
    public async Task<TrainingCheckpoint?> LatestCheckpointAsync(string jobId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("select id, size_bytes, sha256, data from checkpoints where job_id = @job order by epoch desc, id desc");
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            var (id, size, sha, data) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetFieldValue<byte[]>(2), reader.GetFieldValue<byte[]>(3));
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

    /// <summary>
    /// Stores metric points of the writer's attempt; points already stored (a retried batch) are ignored. A batch is one
    /// statement, so it is stored whole or not at all: the usual statement is a plain insert that skips the batch when
    /// its first point is already there (the batch came back after a commit whose answer was lost). Only a batch that
    /// overlaps stored points in part — a trainer sending a point twice — takes the slower statement that checks every
    /// point (<c>on conflict do nothing</c>: each point is a speculative insertion, about half again the cost).
    /// </summary>
    public async Task WriteMetricsAsync(string jobId, int attempt, IReadOnlyList<MetricSample> samples, CancellationToken cancellation = default)
    {
        try
        {
            await InsertMetricsAsync(jobId, attempt, samples, perPointConflicts: false, cancellation);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            await InsertMetricsAsync(jobId, attempt, samples, perPointConflicts: true, cancellation);
        }
    }

    private async Task InsertMetricsAsync(string jobId, int attempt, IReadOnlyList<MetricSample> samples, bool perPointConflicts, CancellationToken cancellation)
    {
        var onlyNew = perPointConflicts
            ? "on conflict do nothing"
            : "where not exists (select 1 from metrics m where m.job_id = @job and m.attempt = @attempt " +
              "and m.step = (@steps::bigint[])[1] and m.name = (@names::text[])[1])";
        await using var command = dataSource.CreateCommand(
            $"with {Fence}, inserted as (insert into metrics (job_id, attempt, epoch, step, name, value) " +
            "select f.job_id, @attempt, p.epoch, p.step, p.name, p.value from fence f, unnest(@epochs::int[], @steps::bigint[], @names::text[], @values::float8[]) " +
            $"as p(epoch, step, name, value) {onlyNew} returning 1) select count(*) from fence");
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("attempt", attempt);
        command.Parameters.AddWithValue("epochs", samples.Select(s => s.Epoch).ToArray());
        command.Parameters.AddWithValue("steps", samples.Select(s => s.Step).ToArray());
        command.Parameters.AddWithValue("names", samples.Select(s => s.Name).ToArray());
        command.Parameters.AddWithValue("values", samples.Select(s => s.Value).ToArray());
        if ((long)(await command.ExecuteScalarAsync(cancellation))! == 0)
        {
            throw await RejectedAsync(jobId, attempt, cancellation);
        }
    }

    public async Task SaveArtifactAsync(string jobId, int attempt, string name, string contentType, byte[] content, CancellationToken cancellation = default)
    {
        await using var upsert = dataSource.CreateCommand(
            $"with {Fence} insert into artifacts (job_id, name, attempt, content_type, size_bytes, sha256, data) " +
            "select job_id, @name, @attempt, @type, @size, @sha, @data from fence " +
            "on conflict (job_id, name) do update set attempt = excluded.attempt, content_type = excluded.content_type, " +
            "size_bytes = excluded.size_bytes, sha256 = excluded.sha256, data = excluded.data, created_at = now()");
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
            throw await RejectedAsync(jobId, attempt, cancellation);
        }
    }

    /// <summary>
    /// A page of the job's metric points in step order (then name, attempt), after <see cref="MetricQuery.AfterStep"/>. A page
    /// ends on a step boundary, so no step is split between two pages. With <see cref="MetricQuery.Points"/> each name is
    /// downsampled to at most that many points (<see cref="MetricDownsampling"/>): its steps are cut into equal ranges, each
    /// giving the exact mean of its points at its last step (attempt and epoch: the range's last).
    /// </summary>
    public async Task<MetricPage> ReadMetricsAsync(string jobId, MetricQuery query, CancellationToken cancellation = default)
    {
        var limit = Math.Clamp(query.Limit, 1, MetricQuery.MaxLimit);
        List<MetricPoint> result;
        if (query.Points is { } requested)
        {
            result = await ReadDownsampledAsync(jobId, query.Name, query.AfterStep, Math.Clamp(requested, 1, MetricQuery.MaxPoints), cancellation);
            result.Sort(static (a, b) => a.Step != b.Step ? a.Step.CompareTo(b.Step)
                : string.CompareOrdinal(a.Name, b.Name) is var byName && byName != 0 ? byName : a.Attempt.CompareTo(b.Attempt));
            if (result.Count > limit + 1)
            {
                result.RemoveRange(limit + 1, result.Count - limit - 1);
            }
        }
        else
        {
            await using var command = dataSource.CreateCommand(
                "select attempt, epoch, step, name, value from metrics where job_id = @job and (@name::text is null or name = @name) and step > @after " +
                "order by step, name, attempt limit @limit");
            command.Parameters.AddWithValue("job", jobId);
            command.Parameters.AddWithValue("name", NpgsqlDbType.Text, (object?)query.Name ?? DBNull.Value);
            command.Parameters.AddWithValue("after", query.AfterStep);
            command.Parameters.AddWithValue("limit", limit + 1);
            result = await ReadPointsAsync(command, cancellation);
        }
        if (result.Count <= limit)
        {
            return new MetricPage(result, null);
        }
        // More than a page: end it before the first step that did not fit whole (unless that is the page's only step).
        var cut = result[limit].Step;
        var page = result.Where(p => p.Step < cut).ToList();
        if (page.Count == 0)
        {
            page = result.Where(p => p.Step == cut).ToList();
        }
        return new MetricPage(page, page[^1].Step);
    }

    private static async Task<List<MetricPoint>> ReadPointsAsync(NpgsqlCommand command, CancellationToken cancellation)
    {
        var points = new List<MetricPoint>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            points.Add(new MetricPoint(reader.GetInt32(0), reader.GetInt32(1), reader.GetInt64(2), reader.GetString(3), reader.GetDouble(4)));
        }
        return points;
    }

    /// <summary>
    /// Each name's points after <paramref name="after"/>, downsampled to at most <paramref name="points"/>. Whole 64-step
    /// blocks are read from <c>metric_blocks</c> (rolled up by a trigger as points arrive) and only the partial block that
    /// <paramref name="after"/> cuts is read point by point, so a 100k-point curve costs ~1,600 rows.
    /// </summary>
    private async Task<List<MetricPoint>> ReadDownsampledAsync(string jobId, string? name, long after, int points, CancellationToken cancellation)
    {
        var firstWholeBlock = MetricDownsampling.FirstWholeBlock(after);
        var spans = new List<(string Name, long Count, long First, long Last)>();
        await using (var stats = dataSource.CreateCommand(
            "select name, sum(n)::bigint, min(lo), max(hi) from (" +
            "select name, count(*) as n, min(step) as lo, max(step) as hi from metrics " +
            "where job_id = @job and (@name::text is null or name = @name) and step > @after and step < @whole << 6 group by name " +
            "union all select name, sum(points), min(first_step), max(last_step) from metric_blocks " +
            "where job_id = @job and (@name::text is null or name = @name) and block >= @whole group by name) as parts group by name"))
        {
            stats.Parameters.AddWithValue("job", jobId);
            stats.Parameters.AddWithValue("name", NpgsqlDbType.Text, (object?)name ?? DBNull.Value);
            stats.Parameters.AddWithValue("after", after);
            stats.Parameters.AddWithValue("whole", firstWholeBlock);
            await using var reader = await stats.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
            {
                spans.Add((reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3)));
            }
        }
        var result = new List<MetricPoint>();
        foreach (var span in spans)
        {
            var plan = MetricDownsampling.Plan(span.Count, span.First, span.Last, points);
            await using var command = dataSource.CreateCommand(plan.Source switch
            {
                MetricDownsampling.Source.Points =>
                    "select attempt, epoch, step, name, value from metrics where job_id = @job and name = @name and step > @after",
                MetricDownsampling.Source.PointRanges =>
                    "select max(attempt), max(epoch), max(step), name, avg(value) from metrics where job_id = @job and name = @name and step > @after " +
                    "group by name, (step - @base) / @width",
                _ =>
                    "select max(attempt), max(epoch), max(step), name, sum(total) / sum(points) from (" +
                    "select name, (step - @base) / @width as range, 1::bigint as points, value as total, step, attempt, epoch from metrics " +
                    "where job_id = @job and name = @name and step > @after and step < @whole << 6 " +
                    "union all select name, ((block << 6) - @base) / @width, points, total, last_step, last_attempt, last_epoch from metric_blocks " +
                    "where job_id = @job and name = @name and block >= @whole) as parts group by name, range",
            });
            command.Parameters.AddWithValue("job", jobId);
            command.Parameters.AddWithValue("name", span.Name);
            command.Parameters.AddWithValue("after", after);
            command.Parameters.AddWithValue("whole", firstWholeBlock);
            command.Parameters.AddWithValue("base", plan.Base);
            command.Parameters.AddWithValue("width", plan.Width);
            result.AddRange(await ReadPointsAsync(command, cancellation));
        }
        return result;
    }

    public async Task<IReadOnlyList<ArtifactInfo>> ListArtifactsAsync(string jobId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand(
            "select name, content_type, size_bytes, sha256, attempt, created_at from artifacts where job_id = @job order by name");
        command.Parameters.AddWithValue("job", jobId);
        var result = new List<ArtifactInfo>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            result.Add(ReadArtifactInfo(reader));
        }
        return result;
    }

    public async Task<ArtifactContent?> ReadArtifactAsync(string jobId, string name, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand(
            "select name, content_type, size_bytes, sha256, attempt, created_at, data from artifacts where job_id = @job and name = @name");
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("name", name);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        if (!await reader.ReadAsync(cancellation))
        {
            return null;
        }
        var info = ReadArtifactInfo(reader);
        var data = reader.GetFieldValue<byte[]>(6);
        if (data.LongLength != info.SizeBytes || Convert.ToHexStringLower(SHA256.HashData(data)) != info.Sha256)
        {
            throw new InvalidDataException($"artifact {name} of job {jobId} fails its size/SHA-256 check");
        }
        return new ArtifactContent(info, data);
    }

    private static ArtifactInfo ReadArtifactInfo(NpgsqlDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), Convert.ToHexStringLower(reader.GetFieldValue<byte[]>(3)),
            reader.GetInt32(4), reader.GetFieldValue<DateTimeOffset>(5));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Checkpoint {Id} of job {Job} fails its size/SHA-256 check; skipping it")]
    private static partial void LogChecksumMismatch(ILogger logger, long id, string job);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Checkpoint {Id} of job {Job} is unusable ({Reason}); skipping it")]
    private static partial void LogUnusable(ILogger logger, long id, string job, string reason);
}
