using System.Globalization;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Reminders;

/// <summary>
/// Orleans reminders in PostgreSQL (<c>cluster_reminders</c>), so schedules survive silo restarts. Rows carry the
/// grain's uniform hash for the ring-range reads each silo makes for the reminders it owns; etags guard updates.
/// </summary>
public sealed class PostgresReminderTable(NpgsqlDataSource dataSource, IOptions<ClusterOptions> clusterOptions) : IReminderTable
{
    private readonly string serviceId = clusterOptions.Value.ServiceId;

    public async Task<ReminderTableData> ReadRows(GrainId grainId)
    {
        await using var command = dataSource.CreateCommand(
            "select grain_id, reminder_name, start_time, period_ms, etag from cluster_reminders where service_id = @service and grain_id = @grain");
        command.Parameters.AddWithValue("service", serviceId);
        command.Parameters.AddWithValue("grain", grainId.ToString());
        return new ReminderTableData(await ReadAsync(command));
    }

    public async Task<ReminderTableData> ReadRows(uint begin, uint end)
    {
        // The ring range (begin, end]; when begin >= end it wraps around zero.
        await using var command = dataSource.CreateCommand(
            """
            select grain_id, reminder_name, start_time, period_ms, etag from cluster_reminders where service_id = @service and
            (case when @begin < @end then grain_hash > @begin and grain_hash <= @end else grain_hash > @begin or grain_hash <= @end end)
            """);
        command.Parameters.AddWithValue("service", serviceId);
        command.Parameters.AddWithValue("begin", (long)begin);
        command.Parameters.AddWithValue("end", (long)end);
        return new ReminderTableData(await ReadAsync(command));
    }

    public async Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName)
    {
        await using var command = dataSource.CreateCommand(
            "select grain_id, reminder_name, start_time, period_ms, etag from cluster_reminders where service_id = @service and grain_id = @grain and reminder_name = @name");
        command.Parameters.AddWithValue("service", serviceId);
        command.Parameters.AddWithValue("grain", grainId.ToString());
        command.Parameters.AddWithValue("name", reminderName);
        return (await ReadAsync(command)).FirstOrDefault();
    }

    public async Task<string?> UpsertRow(ReminderEntry entry)
    {
        await using var command = dataSource.CreateCommand(
            """
            insert into cluster_reminders (service_id, grain_id, reminder_name, grain_hash, start_time, period_ms, etag)
            values (@service, @grain, @name, @hash, @start, @period, 0) on conflict (service_id, grain_id, reminder_name) do update set
            start_time = excluded.start_time, period_ms = excluded.period_ms, etag = cluster_reminders.etag + 1 returning etag
            """);
        command.Parameters.AddWithValue("service", serviceId);
        command.Parameters.AddWithValue("grain", entry.GrainId.ToString());
        command.Parameters.AddWithValue("name", entry.ReminderName);
        command.Parameters.AddWithValue("hash", (long)entry.GrainId.GetUniformHashCode());
        command.Parameters.AddWithValue("start", DateTime.SpecifyKind(entry.StartAt, DateTimeKind.Utc));
        command.Parameters.AddWithValue("period", (long)entry.Period.TotalMilliseconds);
        var etag = (long)(await command.ExecuteScalarAsync())!;
        return etag.ToString(CultureInfo.InvariantCulture);
    }

    public async Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag)
    {
        await using var command = dataSource.CreateCommand(
            "delete from cluster_reminders where service_id = @service and grain_id = @grain and reminder_name = @name and etag = @etag");
        command.Parameters.AddWithValue("service", serviceId);
        command.Parameters.AddWithValue("grain", grainId.ToString());
        command.Parameters.AddWithValue("name", reminderName);
        command.Parameters.AddWithValue("etag", long.Parse(eTag, CultureInfo.InvariantCulture));
        return await command.ExecuteNonQueryAsync() == 1;
    }

    public async Task TestOnlyClearTable()
    {
        await using var command = dataSource.CreateCommand("delete from cluster_reminders where service_id = @service");
        command.Parameters.AddWithValue("service", serviceId);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<List<ReminderEntry>> ReadAsync(NpgsqlCommand command)
    {
        var result = new List<ReminderEntry>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            result.Add(new ReminderEntry
            {
                GrainId = GrainId.Parse(reader.Text("grain_id")),
                ReminderName = reader.Text("reminder_name"),
                StartAt = DateTime.SpecifyKind(reader.GetDateTime(reader.GetOrdinal("start_time")), DateTimeKind.Utc),
                Period = TimeSpan.FromMilliseconds(reader.Long("period_ms")),
                ETag = reader.Long("etag").ToString(CultureInfo.InvariantCulture),
            });
        }
        return result;
    }
}
