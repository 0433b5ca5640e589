using Microsoft.Extensions.Logging;
using Npgsql;

namespace PunkGrid.Server.Storage;

/// <summary>
/// Applies the versioned migrations embedded in this assembly (<c>Persistence/Migrations/NNNN_name.sql</c>) in
/// order, each in its own transaction, recording them in <c>schema_migrations</c>. A transaction-scoped advisory
/// lock serialises silos that start together; applying twice changes nothing.
/// </summary>
public sealed partial class SchemaMigrator(NpgsqlDataSource dataSource, ILogger<SchemaMigrator> logger)
{
    private const long AdvisoryLockKey = 0x50756e6b47726964; // "PunkGrid"

    public sealed record Migration(int Version, string Name, string Sql);

    public static IReadOnlyList<Migration> Embedded { get; } = LoadEmbedded();

    private static List<Migration> LoadEmbedded()
    {
        var assembly = typeof(SchemaMigrator).Assembly;
        var migrations = assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("migrations/", StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Select(n =>
            {
                var file = n["migrations/".Length..^".sql".Length];
                using var reader = new StreamReader(assembly.GetManifestResourceStream(n)!);
                return new Migration(int.Parse(file[..4], System.Globalization.CultureInfo.InvariantCulture), file[5..], reader.ReadToEnd());
            })
            .OrderBy(m => m.Version)
            .ToList();
        var clash = migrations.GroupBy(m => m.Version).FirstOrDefault(g => g.Count() > 1);
        return clash is null
            ? migrations
            : throw new InvalidOperationException($"two migrations share version {clash.Key}: {string.Join(", ", clash.Select(m => m.Name))}");
    }

    /// <summary>Applies what is missing; returns the versions applied now.</summary>
    public async Task<IReadOnlyList<int>> MigrateAsync(CancellationToken cancellation = default)
    {
        var applied = new List<int>();
        await using var connection = await dataSource.OpenConnectionAsync(cancellation);
        await using (var create = new NpgsqlCommand(
            "create table if not exists schema_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())",
            connection))
        {
            try
            {
                await create.ExecuteNonQueryAsync(cancellation);
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateTable)
            {
                // another silo created it at the same moment
            }
        }
        foreach (var migration in Embedded)
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellation);
            await using (var lockCommand = new NpgsqlCommand("select pg_advisory_xact_lock(@key)", connection, transaction))
            {
                lockCommand.Parameters.AddWithValue("key", AdvisoryLockKey);
                await lockCommand.ExecuteNonQueryAsync(cancellation);
            }
            await using (var check = new NpgsqlCommand("select count(*) from schema_migrations where version = @v", connection, transaction))
            {
                check.Parameters.AddWithValue("v", migration.Version);
                if ((long)(await check.ExecuteScalarAsync(cancellation))! > 0)
                {
                    await transaction.RollbackAsync(cancellation);
                    continue;
                }
            }
            await using (var apply = new NpgsqlCommand(migration.Sql, connection, transaction))
            {
                await apply.ExecuteNonQueryAsync(cancellation);
            }
            await using (var record = new NpgsqlCommand("insert into schema_migrations (version, name) values (@v, @n)", connection, transaction))
            {
                record.Parameters.AddWithValue("v", migration.Version);
                record.Parameters.AddWithValue("n", migration.Name);
                await record.ExecuteNonQueryAsync(cancellation);
            }
            await transaction.CommitAsync(cancellation);
            LogApplied(logger, migration.Version, migration.Name);
            applied.Add(migration.Version);
        }
        return applied;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied migration {Version} {Name}")]
    private static partial void LogApplied(ILogger logger, int version, string name);
}
