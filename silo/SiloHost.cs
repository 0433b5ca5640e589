using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Configuration;
using PunkGrid.Server;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Telemetry;
using PunkGrid.Silo.Dashboard;

namespace PunkGrid.Silo;

/// <summary>The silo's host: configuration (appsettings.json, then PUNKGRID__… environment, then options), migrations, Orleans.</summary>
public static partial class SiloHost
{
    /// <summary>Command-line settings that override configuration.</summary>
    public sealed record Overrides(string? Postgres, int? SiloPort, int? GatewayPort, bool? Worker, int? Slots, string? Name, string? Dashboard = null);

    public static HostApplicationBuilder CreateBuilder(Overrides overrides)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = Environments.Production,
        });
        ApplySettings(builder, overrides);
        return builder;
    }

    private static List<string> ApplySettings(IHostApplicationBuilder builder, Overrides overrides)
    {
        var settings = new Dictionary<string, string?>();
        void Set(string key, object? value)
        {
            if (value is not null)
            {
                settings[key] = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        Set("PunkGrid:Postgres", overrides.Postgres);
        Set("PunkGrid:SiloPort", overrides.SiloPort);
        Set("PunkGrid:GatewayPort", overrides.GatewayPort);
        Set("PunkGrid:Worker:Enabled", overrides.Worker);
        Set("PunkGrid:Worker:Slots", overrides.Slots);
        Set("PunkGrid:SiloName", overrides.Name);
        Set("PunkGrid:Dashboard:Urls", overrides.Dashboard);
        builder.Configuration.AddInMemoryCollection(settings);
        var (renamed, warnings) = DeprecatedSettings.Map(builder.Configuration);
        builder.Configuration.AddInMemoryCollection(renamed);
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        return warnings;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    /// <summary>The connection string, for verbs that need only the database (<c>migrate</c>).</summary>
    public static string RequirePostgres(IConfiguration configuration) =>
        NullIfEmpty(configuration.GetSection(ClusterHostOptions.Section).Get<ClusterHostOptions>()?.Postgres)
        ?? throw new ArgumentException(ClusterHostOptions.MissingPostgres);

    public static async Task MigrateAsync(IServiceProvider services, CancellationToken cancellation) =>
        await services.GetRequiredService<SchemaMigrator>().MigrateAsync(cancellation);

    /// <summary>
    /// Builds the silo host: PunkGrid storage, migrations at start, Orleans with PunkGrid's providers, OpenTelemetry, and
    /// (unless <c>PunkGrid:Dashboard:Urls</c> is <c>off</c>) the dashboard, <c>/api/</c> and <c>/metrics</c> on Kestrel.
    /// </summary>
    public static IHost BuildSilo(Overrides overrides)
    {
        var dashboard = DashboardOptions.Load(CreateBuilder(overrides).Configuration);
        if (!dashboard.Enabled)
        {
            var plain = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory, EnvironmentName = Environments.Production });
            ConfigureSilo(plain, overrides, prometheus: false);
            return plain.Build();
        }
        var web = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            WebRootPath = Path.Combine(AppContext.BaseDirectory, "dashboard"),
            EnvironmentName = Environments.Production,
        });
        ConfigureSilo(web, overrides, prometheus: true);
        web.WebHost.UseUrls([.. dashboard.Urls]);
        web.AddDashboardEdge(dashboard);
        web.Services.AddHostedService(sp => new DashboardAnnouncement(dashboard, sp.GetRequiredService<ILogger<DashboardAnnouncement>>()));
        var app = web.Build();
        app.UseDashboardEdge();
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapPunkGridApi();
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }

    private static void ConfigureSilo(IHostApplicationBuilder builder, Overrides overrides, bool prometheus)
    {
        var deprecated = ApplySettings(builder, overrides);
        builder.Services.AddHostedService(sp => new DeprecatedSettings.Announcement(deprecated, sp.GetRequiredService<ILogger<DeprecatedSettings.Announcement>>()));
        var configuration = builder.Configuration;
        // Validated before anything starts: a bad setting or missing certificates are bad input (exit 2), named.
        var host = ClusterHostOptions.Load(configuration);
        var tls = ClusterTlsOptions.Load(configuration);
        builder.Services.AddPunkGridStorage(host.Postgres!, $"punkgrid {host.EffectiveSiloName}");
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = host.ClusterId;
                o.ServiceId = host.ServiceId;
            });
            silo.ConfigureEndpoints(host.ResolveAdvertisedAddress(), host.SiloPort, host.GatewayPort, listenOnAnyHostAddress: host.ListenOnAnyAddress);
            if (!string.IsNullOrWhiteSpace(host.SiloName))
            {
                silo.Configure<SiloOptions>(o => o.SiloName = host.SiloName);
            }
            silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(15));
            if (tls is not null)
            {
                silo.UseClusterTls(tls);
            }
            silo.AddPunkGrid(configuration);
        });
        AddTelemetry(builder, prometheus, host.EffectiveSiloName);
        // Migrations run before Orleans starts: membership lives in these tables.
        builder.Services.Insert(0, ServiceDescriptor.Singleton<IHostedService, MigrateOnStart>());
    }

    /// <summary>
    /// Traces from the <c>PunkGrid</c> source; metrics from the <c>PunkGrid</c> meter and Orleans' own. OTLP export is on
    /// when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the exporter reads the standard <c>OTEL_*</c> variables); the
    /// Prometheus scrape endpoint <c>/metrics</c> is on whenever the HTTP surface is.
    /// </summary>
    private static void AddTelemetry(IHostApplicationBuilder builder, bool prometheus, string instance)
    {
        var otlp = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("punkgrid-silo", serviceInstanceId: instance))
            .WithTracing(tracing =>
            {
                tracing.AddSource(PunkGridTelemetry.Name);
                if (otlp)
                {
                    tracing.AddOtlpExporter();
                }
            })
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(PunkGridTelemetry.Name, "Microsoft.Orleans");
                if (prometheus)
                {
                    metrics.AddPrometheusExporter();
                }
                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            });
    }

    /// <summary>Says where the dashboard is; with a token the silo made up, the URL carries it (as notebook servers print theirs).</summary>
    private sealed partial class DashboardAnnouncement(DashboardSettings dashboard, ILogger<DashboardAnnouncement> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            var url = dashboard.Urls[0].Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal).TrimEnd('/');
            if (dashboard.TokenGenerated)
            {
                LogGenerated(logger, $"{url}/#token={dashboard.Token}");
            }
            else if (dashboard.Insecure)
            {
                LogInsecure(logger, url);
            }
            else
            {
                LogServing(logger, url);
            }
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(Level = LogLevel.Warning, Message = "Dashboard at {Url} (no PunkGrid:Dashboard:Token was set: this token was made up for this run; changes to the cluster need it)")]
        private static partial void LogGenerated(ILogger logger, string url);

        [LoggerMessage(Level = LogLevel.Warning, Message = "Dashboard at {Url} WITHOUT A TOKEN (PunkGrid:Dashboard:Insecure): any program on this machine can change the cluster")]
        private static partial void LogInsecure(ILogger logger, string url);

        [LoggerMessage(Level = LogLevel.Information, Message = "Dashboard at {Url} (changes to the cluster need the configured token)")]
        private static partial void LogServing(ILogger logger, string url);
    }

    /// <summary>
    /// Applies the migrations before Orleans starts. A silo started while the database is down (restarting, not up yet)
    /// waits for it, up to <see cref="DatabaseWait"/>; a wrong connection string or password fails at once.
    /// </summary>
    private sealed class MigrateOnStart(SchemaMigrator migrator, ILogger<MigrateOnStart> logger) : IHostedService
    {
        public static readonly TimeSpan DatabaseWait = TimeSpan.FromMinutes(5);

        public async Task StartAsync(CancellationToken cancellationToken)
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(DatabaseWait);
            try
            {
                await DatabaseRetry.RunAsync(c => migrator.MigrateAsync(c), logger, "the schema migrations at start", wait.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"the database did not answer within {DatabaseWait.TotalMinutes:0} minutes of the silo's start");
            }
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
