using System.Globalization;
using System.Net;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;

namespace PunkGrid.Clustering;

/// <summary>
/// Orleans cluster membership in PostgreSQL (<c>cluster_versions</c>, <c>cluster_members</c>). Every insert or update
/// of a member also moves the cluster's table version, and succeeds only if the version's etag (and for updates the
/// row's etag) is the one the caller read: the optimistic concurrency Orleans' membership protocol relies on.
/// </summary>
public sealed class PostgresMembershipTable(NpgsqlDataSource dataSource, IOptions<ClusterOptions> clusterOptions) : IMembershipTable
{
    private readonly string clusterId = clusterOptions.Value.ClusterId;

    public async Task InitializeMembershipTable(bool tryInitTableVersion)
    {
        if (!tryInitTableVersion)
        {
            return;
        }
        await using var command = dataSource.CreateCommand("""
            insert into cluster_versions (cluster_id, version, etag) values (@cluster, 0, 0)
            on conflict (cluster_id) do nothing
            """);
        command.Parameters.AddWithValue("cluster", clusterId);
        await command.ExecuteNonQueryAsync();
    }

    public async Task DeleteMembershipTableEntries(string clusterId)
    {
        await using var command = dataSource.CreateCommand("""
            delete from cluster_versions where cluster_id = @cluster
            """);
        command.Parameters.AddWithValue("cluster", clusterId);
        await command.ExecuteNonQueryAsync();
    }

    public async Task CleanupDefunctSiloEntries(DateTimeOffset beforeDate)
    {
        await using var command = dataSource.CreateCommand("""
            delete from cluster_members where cluster_id = @cluster and i_am_alive_time < @before and status <> @active
            """);
        command.Parameters.AddWithValue("cluster", clusterId);
        command.Parameters.AddWithValue("before", beforeDate.UtcDateTime);
        command.Parameters.AddWithValue("active", (int)SiloStatus.Active);
        await command.ExecuteNonQueryAsync();
    }

    public Task<MembershipTableData> ReadRow(SiloAddress key) => ReadAsync(key);

    public Task<MembershipTableData> ReadAll() => ReadAsync(null);

    private async Task<MembershipTableData> ReadAsync(SiloAddress? key)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead);
        var version = new TableVersion(0, "0");
        await using (var versionCommand = new NpgsqlCommand("""
            select version, etag from cluster_versions where cluster_id = @cluster
            """, connection, transaction))
        {
            versionCommand.Parameters.AddWithValue("cluster", clusterId);
            await using var reader = await versionCommand.ExecuteReaderAsync();
            if (await reader.ReadAsync())
            {
                version = new TableVersion(reader.GetInt32(reader.GetOrdinal("version")),
                    reader.GetInt64(reader.GetOrdinal("etag")).ToString(CultureInfo.InvariantCulture));
            }
        }
        var entries = new List<Tuple<MembershipEntry, string>>();
        await using (var members = new NpgsqlCommand("""
            select address, port, generation, silo_name, host_name, status, proxy_port, suspect_times, start_time, i_am_alive_time, etag
            from cluster_members
            where cluster_id = @cluster and (@address::text is null or (address = @address and port = @port and generation = @generation))
            """, connection, transaction))
        {
            members.Parameters.AddWithValue("cluster", clusterId);
            members.Parameters.AddWithValue("address", NpgsqlTypes.NpgsqlDbType.Text, (object?)key?.Endpoint.Address.ToString() ?? DBNull.Value);
            members.Parameters.AddWithValue("port", key?.Endpoint.Port ?? 0);
            members.Parameters.AddWithValue("generation", key?.Generation ?? 0);
            await using var reader = await members.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                int Column(string name) => reader.GetOrdinal(name);
                var suspects = Column("suspect_times");
                var entry = new MembershipEntry
                {
                    SiloAddress = SiloAddress.New(new IPEndPoint(IPAddress.Parse(reader.GetString(Column("address"))), reader.GetInt32(Column("port"))),
                        reader.GetInt32(Column("generation"))),
                    SiloName = reader.GetString(Column("silo_name")),
                    HostName = reader.GetString(Column("host_name")),
                    Status = (SiloStatus)reader.GetInt32(Column("status")),
                    ProxyPort = reader.GetInt32(Column("proxy_port")),
                    SuspectTimes = ParseSuspectTimes(reader.IsDBNull(suspects) ? null : reader.GetString(suspects)),
                    StartTime = DateTime.SpecifyKind(reader.GetDateTime(Column("start_time")), DateTimeKind.Utc),
                    IAmAliveTime = DateTime.SpecifyKind(reader.GetDateTime(Column("i_am_alive_time")), DateTimeKind.Utc),
                };
                entries.Add(Tuple.Create(entry, reader.GetInt64(Column("etag")).ToString(CultureInfo.InvariantCulture)));
            }
        }
        await transaction.CommitAsync();
        return new MembershipTableData(entries, version);
    }

    public Task<bool> InsertRow(MembershipEntry entry, TableVersion tableVersion) =>
        WriteAsync(entry, tableVersion, rowEtag: null, """
            insert into cluster_members (cluster_id, address, port, generation, silo_name, host_name, status, proxy_port, suspect_times, start_time, i_am_alive_time)
            values (@cluster, @address, @port, @generation, @silo, @host, @status, @proxy, @suspects, @start, @alive)
            on conflict do nothing
            """);

    public Task<bool> UpdateRow(MembershipEntry entry, string etag, TableVersion tableVersion) =>
        WriteAsync(entry, tableVersion, etag, """
            update cluster_members
            set status = @status, suspect_times = @suspects, i_am_alive_time = @alive, silo_name = @silo, host_name = @host,
                proxy_port = @proxy, start_time = @start, etag = etag + 1
            where cluster_id = @cluster and address = @address and port = @port and generation = @generation and etag = @rowEtag
            """);

    /// <summary>Moves the table version (if its etag matches) and writes the row, in one transaction; false on any conflict.</summary>
    private async Task<bool> WriteAsync(MembershipEntry entry, TableVersion tableVersion, string? rowEtag, string rowSql)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var version = new NpgsqlCommand("""
            update cluster_versions set version = @version, etag = etag + 1 where cluster_id = @cluster and etag = @etag
            """, connection, transaction))
        {
            version.Parameters.AddWithValue("cluster", clusterId);
            version.Parameters.AddWithValue("version", tableVersion.Version);
            version.Parameters.AddWithValue("etag", long.Parse(tableVersion.VersionEtag, CultureInfo.InvariantCulture));
            if (await version.ExecuteNonQueryAsync() != 1)
            {
                await transaction.RollbackAsync();
                return false;
            }
        }
        await using (var row = new NpgsqlCommand(rowSql, connection, transaction))
        {
            Bind(row.Parameters, entry);
            if (rowEtag is not null)
            {
                row.Parameters.AddWithValue("rowEtag", long.Parse(rowEtag, CultureInfo.InvariantCulture));
            }
            if (await row.ExecuteNonQueryAsync() != 1)
            {
                await transaction.RollbackAsync();
                return false;
            }
        }
        await transaction.CommitAsync();
        return true;
    }

    /// <summary>
    /// The gateways of the silos that are <see cref="SiloStatus.Active"/> in <paramref name="clusterId"/>, most recently alive
    /// first: what <see cref="PostgresGatewayListProvider"/> gives clients.
    /// </summary>
    public static async Task<IReadOnlyList<IPEndPoint>> ReadActiveGatewaysAsync(NpgsqlDataSource dataSource, string clusterId, CancellationToken cancellation)
    {
        await using var command = dataSource.CreateCommand("""
            select address, proxy_port from cluster_members
            where cluster_id = @cluster and status = @active and proxy_port > 0
            order by i_am_alive_time desc
            """);
        command.Parameters.AddWithValue("cluster", clusterId);
        command.Parameters.AddWithValue("active", (int)SiloStatus.Active);
        var gateways = new List<IPEndPoint>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            if (IPAddress.TryParse(reader.GetString(reader.GetOrdinal("address")), out var address))
            {
                gateways.Add(new IPEndPoint(address, reader.GetInt32(reader.GetOrdinal("proxy_port"))));
            }
        }
        return gateways.Distinct().ToList();
    }

    public async Task UpdateIAmAlive(MembershipEntry entry)
    {
        await using var command = dataSource.CreateCommand("""
            update cluster_members set i_am_alive_time = @alive
            where cluster_id = @cluster and address = @address and port = @port and generation = @generation
            """);
        Bind(command.Parameters, entry);
        await command.ExecuteNonQueryAsync();
    }

    private void Bind(NpgsqlParameterCollection p, MembershipEntry entry)
    {
        p.AddWithValue("cluster", clusterId);
        p.AddWithValue("address", entry.SiloAddress.Endpoint.Address.ToString());
        p.AddWithValue("port", entry.SiloAddress.Endpoint.Port);
        p.AddWithValue("generation", entry.SiloAddress.Generation);
        p.AddWithValue("silo", entry.SiloName ?? "");
        p.AddWithValue("host", entry.HostName ?? "");
        p.AddWithValue("status", (int)entry.Status);
        p.AddWithValue("proxy", entry.ProxyPort);
        p.AddWithValue("suspects", NpgsqlTypes.NpgsqlDbType.Text, (object?)FormatSuspectTimes(entry.SuspectTimes) ?? DBNull.Value);
        p.AddWithValue("start", DateTime.SpecifyKind(entry.StartTime, DateTimeKind.Utc));
        p.AddWithValue("alive", DateTime.SpecifyKind(entry.IAmAliveTime, DateTimeKind.Utc));
    }

    /// <summary>Suspicions as <c>silo-address|utc-ticks</c> joined by <c>;</c>.</summary>
    internal static string? FormatSuspectTimes(List<Tuple<SiloAddress, DateTime>>? suspects) =>
        suspects is null || suspects.Count == 0
            ? null
            : string.Join(';', suspects.Select(s => $"{s.Item1.ToParsableString()}|{s.Item2.ToUniversalTime().Ticks.ToString(CultureInfo.InvariantCulture)}"));

    internal static List<Tuple<SiloAddress, DateTime>> ParseSuspectTimes(string? text) =>
        string.IsNullOrEmpty(text)
            ? []
            : text.Split(';').Select(item =>
            {
                var at = item.LastIndexOf('|');
                return Tuple.Create(SiloAddress.FromParsableString(item[..at]),
                    new DateTime(long.Parse(item[(at + 1)..], CultureInfo.InvariantCulture), DateTimeKind.Utc));
            }).ToList();
}
