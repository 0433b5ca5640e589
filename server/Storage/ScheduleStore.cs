using System.Text.Json;
using Npgsql;
using PunkGrid.Contracts;

namespace PunkGrid.Server.Storage;

/// <summary>The <c>schedules</c> table: one row per schedule, its run spec as JSON.</summary>
public sealed class ScheduleStore(NpgsqlDataSource dataSource)
{
    public sealed record Row(string Name, string Cron, string TimeZone, RunSpec Run, bool Paused, DateTimeOffset CreatedAt,
        DateTimeOffset? LastFiredAt, string? LastRunId, string? LastOutcome);

    private const string Columns = "name, cron, time_zone, spec::text as spec, paused, created_at, last_fired_at, last_run_id, last_outcome";

    /// <returns>False when a schedule of that name exists (nothing changes).</returns>
    public async Task<bool> InsertAsync(string name, ScheduleSpec spec, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand(
            "insert into schedules (name, cron, time_zone, spec) values (@name, @cron, @tz, @spec::jsonb) on conflict (name) do nothing");
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("cron", spec.Cron);
        command.Parameters.AddWithValue("tz", spec.TimeZone);
        command.Parameters.AddWithValue("spec", JsonSerializer.Serialize(spec.Run));
        return await command.ExecuteNonQueryAsync(cancellation) == 1;
    }

    public async Task<Row?> GetAsync(string name, CancellationToken cancellation = default) =>
        (await QueryAsync($"select {Columns} from schedules where name = @name", name, cancellation)).SingleOrDefault();

    public Task<List<Row>> ListAsync(CancellationToken cancellation = default) =>
        QueryAsync($"select {Columns} from schedules order by name", null, cancellation);

    public async Task<bool> SetPausedAsync(string name, bool paused, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("update schedules set paused = @paused where name = @name");
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("paused", paused);
        return await command.ExecuteNonQueryAsync(cancellation) == 1;
    }

    public async Task<bool> DeleteAsync(string name, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("delete from schedules where name = @name");
        command.Parameters.AddWithValue("name", name);
        return await command.ExecuteNonQueryAsync(cancellation) == 1;
    }

    /// <summary>Records a firing, only if the row still has the <paramref name="expectedLastFiredAt"/> it was read with.</summary>
    /// <summary>
    /// Records a firing if the schedule's last firing is still <paramref name="expectedLastFiredAt"/> (one silo records
    /// each). With <paramref name="webhookEvent"/> (<c>schedule.missed</c>, <c>schedule.failed</c>) the same statement
    /// writes that event to the webhook outbox, so it exists exactly when the firing was recorded.
    /// </summary>
    public async Task<bool> RecordFiringAsync(string name, DateTimeOffset? expectedLastFiredAt, DateTimeOffset firedAt, string? runId, string outcome,
        CancellationToken cancellation = default, string? webhookEvent = null)
    {
        await using var command = dataSource.CreateCommand(
            """
            with recorded as (
                update schedules set last_fired_at = @fired, last_run_id = coalesce(@run, last_run_id), last_outcome = @outcome
                where name = @name and last_fired_at is not distinct from @expected
                returning name, cron, time_zone, last_fired_at, last_outcome),
            emitted as (
                select punkgrid_emit(@event, jsonb_build_object('schedule', r.name, 'cron', r.cron, 'time_zone', r.time_zone,
                                                               'fired_at', r.last_fired_at, 'outcome', r.last_outcome))
                from recorded r where @event::text is not null)
            select (select count(*) from recorded) as recorded, (select count(*) from emitted) as emitted
            """);
        command.Parameters.Add(new NpgsqlParameter<string?>("event", webhookEvent) { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("fired", firedAt);
        command.Parameters.Add(new NpgsqlParameter<string?>("run", runId) { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        command.Parameters.AddWithValue("outcome", outcome);
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset?>("expected", expectedLastFiredAt) { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        await reader.ReadAsync(cancellation);
        return reader.Long("recorded") == 1;
    }

    private async Task<List<Row>> QueryAsync(string sql, string? name, CancellationToken cancellation)
    {
        await using var command = dataSource.CreateCommand(sql);
        if (name is not null)
        {
            command.Parameters.AddWithValue("name", name);
        }
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        var rows = new List<Row>();
        while (await reader.ReadAsync(cancellation))
        {
            rows.Add(new Row(
                reader.Text("name"), reader.Text("cron"), reader.Text("time_zone"),
                JsonSerializer.Deserialize<RunSpec>(reader.Text("spec"))!,
                reader.Bool("paused"), reader.Time("created_at"), reader.TimeOrNull("last_fired_at"),
                reader.TextOrNull("last_run_id"), reader.TextOrNull("last_outcome")));
        }
        return rows;
    }
}
