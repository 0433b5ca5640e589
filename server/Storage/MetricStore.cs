using Npgsql;
using NpgsqlTypes;
using PunkGrid.Contracts;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Server.Storage;

/// <summary>
/// A job's metric points in PostgreSQL (<c>metrics</c>, one point per job, name, step and attempt, rolled up per 64
/// steps into <c>metric_blocks</c> by a trigger): written in batches fenced by the writer's attempt
/// (<see cref="AttemptFence"/>), read in pages or downsampled.
/// </summary>
public sealed class MetricStore(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// Stores metric points of the writer's attempt; points already stored (a retried batch) are ignored. A batch is one
    /// statement, so it is stored whole or not at all: the usual statement is a plain insert that skips the batch when
    /// its first point is already there (the batch came back after a commit whose answer was lost). Only a batch that
    /// overlaps stored points in part — a trainer sending a point twice — takes the slower statement that checks every
    /// point (<c>on conflict do nothing</c>: each point is a speculative insertion, about half again the cost).
    /// </summary>
    public async Task WriteAsync(string jobId, int attempt, IReadOnlyList<MetricSample> samples, CancellationToken cancellation = default)
    {
        try
        {
            await InsertAsync(jobId, attempt, samples, perPointConflicts: false, cancellation);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            await InsertAsync(jobId, attempt, samples, perPointConflicts: true, cancellation);
        }
    }

    private async Task InsertAsync(string jobId, int attempt, IReadOnlyList<MetricSample> samples, bool perPointConflicts, CancellationToken cancellation)
    {
        var onlyNew = perPointConflicts
            ? "on conflict do nothing"
            : """
              where not exists (select 1 from metrics m where m.job_id = @job and m.attempt = @attempt
                                and m.step = (@steps::bigint[])[1] and m.name = (@names::text[])[1])
              """;
        await using var command = dataSource.CreateCommand($"""
            with {AttemptFence.Cte},
            inserted as (
                insert into metrics (job_id, attempt, epoch, step, name, value)
                select f.job_id, @attempt, p.epoch, p.step, p.name, p.value
                from fence f, unnest(@epochs::int[], @steps::bigint[], @names::text[], @values::float8[]) as p(epoch, step, name, value)
                {onlyNew}
                returning 1)
            select count(*) from fence
            """);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("attempt", attempt);
        command.Parameters.AddWithValue("epochs", samples.Select(s => s.Epoch).ToArray());
        command.Parameters.AddWithValue("steps", samples.Select(s => s.Step).ToArray());
        command.Parameters.AddWithValue("names", samples.Select(s => s.Name).ToArray());
        command.Parameters.AddWithValue("values", samples.Select(s => s.Value).ToArray());
        if ((long)(await command.ExecuteScalarAsync(cancellation))! == 0)
        {
            throw await AttemptFence.RejectedAsync(dataSource, jobId, attempt, cancellation);
        }
    }

    /// <summary>
    /// A page of the job's metric points in step order (then name, attempt), after <see cref="MetricQuery.AfterStep"/>. A page
    /// ends on a step boundary, so no step is split between two pages. With <see cref="MetricQuery.Points"/> each name is
    /// downsampled to at most that many points (<see cref="MetricDownsampling"/>): its steps are cut into equal ranges, each
    /// giving the exact mean of its points at its last step (attempt and epoch: the range's last).
    /// </summary>
    public async Task<MetricPage> ReadAsync(string jobId, MetricQuery query, CancellationToken cancellation = default)
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
            await using var command = dataSource.CreateCommand("""
                select attempt, epoch, step, name, value from metrics
                where job_id = @job and (@name::text is null or name = @name) and step > @after
                order by step, name, attempt
                limit @limit
                """);
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

    /// <summary>Points from a query with the columns attempt, epoch, step, name and value.</summary>
    private static async Task<List<MetricPoint>> ReadPointsAsync(NpgsqlCommand command, CancellationToken cancellation)
    {
        var points = new List<MetricPoint>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            points.Add(new MetricPoint(reader.Int("attempt"), reader.Int("epoch"), reader.Long("step"), reader.Text("name"), reader.Double("value")));
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
        await using (var stats = dataSource.CreateCommand("""
            select name, sum(n)::bigint as points, min(lo) as first_step, max(hi) as last_step from (
                select name, count(*) as n, min(step) as lo, max(step) as hi from metrics
                where job_id = @job and (@name::text is null or name = @name) and step > @after and step < @whole << 6
                group by name
                union all
                select name, sum(points), min(first_step), max(last_step) from metric_blocks
                where job_id = @job and (@name::text is null or name = @name) and block >= @whole
                group by name) as parts
            group by name
            """))
        {
            stats.Parameters.AddWithValue("job", jobId);
            stats.Parameters.AddWithValue("name", NpgsqlDbType.Text, (object?)name ?? DBNull.Value);
            stats.Parameters.AddWithValue("after", after);
            stats.Parameters.AddWithValue("whole", firstWholeBlock);
            await using var reader = await stats.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
            {
                spans.Add((reader.Text("name"), reader.Long("points"), reader.Long("first_step"), reader.Long("last_step")));
            }
        }
        var result = new List<MetricPoint>();
        foreach (var span in spans)
        {
            var plan = MetricDownsampling.Plan(span.Count, span.First, span.Last, points);
            await using var command = dataSource.CreateCommand(plan.Source switch
            {
                MetricDownsampling.Source.Points => """
                    select attempt, epoch, step, name, value from metrics where job_id = @job and name = @name and step > @after
                    """,
                MetricDownsampling.Source.PointRanges => """
                    select max(attempt) as attempt, max(epoch) as epoch, max(step) as step, name, avg(value) as value from metrics
                    where job_id = @job and name = @name and step > @after
                    group by name, (step - @base) / @width
                    """,
                _ => """
                    select max(attempt) as attempt, max(epoch) as epoch, max(step) as step, name, sum(total) / sum(points) as value from (
                        select name, (step - @base) / @width as range, 1::bigint as points, value as total, step, attempt, epoch from metrics
                        where job_id = @job and name = @name and step > @after and step < @whole << 6
                        union all
                        select name, ((block << 6) - @base) / @width, points, total, last_step, last_attempt, last_epoch from metric_blocks
                        where job_id = @job and name = @name and block >= @whole) as parts
                    group by name, range
                    """,
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
}
