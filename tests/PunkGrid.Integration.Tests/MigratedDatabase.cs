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
    private MigratedDatabase(NpgsqlDataSource dataSource, JobQueueOptions scheduling)
    {
        DataSource = dataSource;
        Jobs = new JobStore(dataSource);
        Queue = new JobQueue(dataSource, Options.Create(scheduling));
        Checkpoints = new CheckpointStore(dataSource, NullLogger<CheckpointStore>.Instance);
        Metrics = new MetricStore(dataSource);
        Artifacts = new ArtifactStore(dataSource);
        Logs = new JobLogStore(dataSource);
    }

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
        var dataSource = NpgsqlDataSource.Create(await server.CreateDatabaseAsync(name));
        await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync();
        return new MigratedDatabase(dataSource, scheduling ?? new JobQueueOptions { LeaseTimeout = TimeSpan.FromMinutes(1) });
    }

    public ValueTask DisposeAsync() => DataSource.DisposeAsync();
}
