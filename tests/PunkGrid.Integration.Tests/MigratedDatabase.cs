using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using PunkGrid.Server;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// A test class's own database on the shared PostgreSQL server, migrated to the newest schema, with the stores a silo
/// builds on it: jobs, the queue (with the class's scheduling options), checkpoints, metrics and artifacts.
/// </summary>
public sealed class MigratedDatabase : IAsyncDisposable
{
    private MigratedDatabase(string connectionString, NpgsqlDataSource dataSource, JobQueueOptions scheduling)
    {
        ConnectionString = connectionString;
        DataSource = dataSource;
        Jobs = new JobStore(dataSource);
        Queue = new JobQueue(dataSource, Options.Create(scheduling));
        Checkpoints = new CheckpointStore(dataSource, NullLogger<CheckpointStore>.Instance);
        Metrics = new MetricStore(dataSource);
        Artifacts = new ArtifactStore(dataSource);
        Logs = new JobLogStore(dataSource);
    }

    /// <summary>With its password: for a second data source, as a second silo would have.</summary>
    public string ConnectionString { get; }

    public NpgsqlDataSource DataSource { get; }

    public JobStore Jobs { get; }

    public JobQueue Queue { get; }

    public CheckpointStore Checkpoints { get; }

    public MetricStore Metrics { get; }

    public ArtifactStore Artifacts { get; }

    public JobLogStore Logs { get; }

    /// <summary>A new database named after <paramref name="name"/>; leases last a minute unless <paramref name="scheduling"/> says otherwise.</summary>
    public static async Task<MigratedDatabase> CreateAsync(PostgresServer server, string name, JobQueueOptions? scheduling = null)
    {
        var connectionString = await server.CreateDatabaseAsync(name);
        var dataSource = NpgsqlDataSource.Create(connectionString);
        await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync();
        return new MigratedDatabase(connectionString, dataSource, scheduling ?? new JobQueueOptions { LeaseTimeout = TimeSpan.FromMinutes(1) });
    }

    public ValueTask DisposeAsync() => DataSource.DisposeAsync();
}
