using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using PunkGrid.Clustering;
using PunkGrid.Server.Grains;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Reminders;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Worker;

namespace PunkGrid.Server;

/// <summary>Wires PunkGrid's grains, stores, clustering and reminder providers and the worker agent into a silo.</summary>
public static class ClusterHosting
{
    /// <summary>
    /// The PostgreSQL data source and the stores and migrator on it. Its connections carry <paramref name="applicationName"/>
    /// (unless the connection string names one), so <c>pg_stat_activity</c> says which silo holds what.
    /// </summary>
    public static IServiceCollection AddPunkGridStorage(this IServiceCollection services, string connectionString, string applicationName = "punkgrid")
    {
        services.AddSingleton(_ =>
        {
            var builder = new NpgsqlDataSourceBuilder(connectionString);
            if (string.IsNullOrEmpty(builder.ConnectionStringBuilder.ApplicationName))
            {
                builder.ConnectionStringBuilder.ApplicationName = applicationName;
            }
            if (builder.ConnectionStringBuilder.Host?.Contains(',', StringComparison.Ordinal) == true)
            {
                // Several hosts (a primary and its standbys). Npgsql skips a host it found down or of the wrong kind until
                // Host Recheck Seconds pass (default 10: a just-promoted standby unused that long), then tries the hosts in
                // their order, each for the whole connect Timeout (default 15 s: every new connection waits that long on a
                // primary that is gone without a word before the standby is asked). Unless the string says otherwise:
                if (!Names(connectionString, "Host Recheck Seconds", "HostRecheckSeconds"))
                {
                    builder.ConnectionStringBuilder.HostRecheckSeconds = MultiHostRecheckSeconds;
                }
                if (!Names(connectionString, "Timeout"))
                {
                    builder.ConnectionStringBuilder.Timeout = MultiHostConnectSeconds;
                }
            }
            return builder.Build();
        });
        services.AddSingleton<SchemaMigrator>();
        services.AddSingleton<JobStore>();
        services.AddSingleton<JobQueue>();
        services.AddSingleton<CheckpointStore>();
        services.AddSingleton<MetricStore>();
        services.AddSingleton<ArtifactStore>();
        services.AddSingleton<JobLogStore>();
        services.AddSingleton<RetentionStore>();
        services.AddSingleton<ClusterHealthStore>();
        services.AddSingleton<Webhooks.WebhookStore>();
        services.AddSingleton<ModelRegistryStore>();
        services.AddSingleton<ScheduleStore>();
        return services;
    }

    /// <summary>How soon a silo asks a host of a multi-host connection string again after finding it down or read-only.</summary>
    public const int MultiHostRecheckSeconds = 5;

    /// <summary>How long a silo waits for each host of a multi-host connection string to accept a connection.</summary>
    public const int MultiHostConnectSeconds = 3;

    /// <summary>Whether the connection string sets one of <paramref name="keys"/> itself.</summary>
    private static bool Names(string connectionString, params string[] keys)
    {
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        return keys.Any(given.ContainsKey);
    }

    /// <summary>Membership and reminders on PostgreSQL, PunkGrid's options, and (when enabled) the worker agent.</summary>
    public static ISiloBuilder AddPunkGrid(this ISiloBuilder silo, IConfiguration configuration)
    {
        var section = configuration.GetSection("PunkGrid");
        silo.Services.AddOptions<JobQueueOptions>().Bind(configuration.GetSection(JobQueueOptions.Section)).ValidateOnStart();
        silo.Services.AddSingleton<IValidateOptions<JobQueueOptions>, JobQueueOptions.Validator>();
        silo.Services.AddOptions<RetrainingScheduleOptions>().Bind(configuration.GetSection(RetrainingScheduleOptions.Section)).ValidateOnStart();
        silo.Services.AddSingleton<IValidateOptions<RetrainingScheduleOptions>, RetrainingScheduleOptions.Validator>();
        silo.Services.AddOptions<WorkerOptions>().Bind(section.GetSection("Worker")).ValidateOnStart();
        silo.Services.AddSingleton<IValidateOptions<WorkerOptions>, WorkerOptions.Validator>();
        silo.Services.AddOptions<JobLogOptions>().Bind(configuration.GetSection(JobLogOptions.Section)).ValidateOnStart();
        silo.Services.AddSingleton<IValidateOptions<JobLogOptions>, JobLogOptions.Validator>();
        silo.Services.AddOptions<RetentionOptions>().Bind(configuration.GetSection(RetentionOptions.Section)).ValidateOnStart();
        silo.Services.AddSingleton<IValidateOptions<RetentionOptions>, RetentionOptions.Validator>();
        silo.Services.AddOptions<WebhookOptions>().Bind(configuration.GetSection(WebhookOptions.Section)).ValidateOnStart();
        silo.Services.AddSingleton<IValidateOptions<WebhookOptions>, WebhookOptions.Validator>();
        silo.Services.AddOptions<SearchOptions>().Bind(configuration.GetSection(SearchOptions.Section)).ValidateOnStart();
        silo.Services.AddSingleton<IValidateOptions<SearchOptions>, SearchOptions.Validator>();
        silo.Services.Configure<ClusterMembershipOptions>(section.GetSection("Membership"));
        silo.AddIncomingGrainCallFilter<Security.OperatorSurfaceFilter>();
        silo.AddIncomingGrainCallFilter<Grains.DatabaseOutageFilter>();
        silo.Services.AddSingleton<IMembershipTable, PostgresMembershipTable>();
        silo.Services.AddSingleton<IReminderTable, PostgresReminderTable>();
        silo.AddReminders();
        silo.Services.AddOptions<ReminderOptions>().Configure<IOptions<RetrainingScheduleOptions>>((o, schedules) =>
            o.MinimumReminderPeriod = schedules.Value.Tick < o.MinimumReminderPeriod ? schedules.Value.Tick : o.MinimumReminderPeriod);
        silo.Services.AddSingleton<TraitCatalog>();
        silo.Services.AddSingleton<RunPlanner>();
        silo.Services.AddSingleton<Search.SearchPlanner>();
        silo.Services.AddSingleton<Search.SearchDecider>();
        silo.Services.AddSingleton<Search.SearchStore>();
        silo.Services.AddSingleton<SubmissionPlanner>();
        // Registered before the worker, so it stops after it: the lines of the jobs the worker stops are still written.
        silo.Services.AddSingleton<JobLogWriter>();
        silo.Services.AddHostedService(sp => sp.GetRequiredService<JobLogWriter>());
        silo.Services.AddHostedService<Telemetry.ClusterStateSampler>();
        silo.Services.AddHostedService<LeaseKeeper>();
        silo.Services.AddHostedService<JobCountCompactor>();
        silo.Services.AddHostedService<RetentionPass>();
        silo.Services.AddHostedService<Webhooks.WebhookDispatcher>();
        silo.Services.AddHostedService<PromotionPass>();
        silo.Services.AddHostedService<Search.SearchPass>();
        silo.Services.AddSingleton(sp => new PunkGrid.Training.Inference.PunkInferenceEngine(
            PunkGrid.Training.Data.DataDirectory.Resolve(sp.GetRequiredService<IOptions<WorkerOptions>>().Value.DataDirectory)));
        if ((section.GetSection("Worker").Get<WorkerOptions>() ?? new WorkerOptions()).Enabled)
        {
            silo.Services.AddHostedService<WorkerAgent>();
        }
        return silo;
    }
}
