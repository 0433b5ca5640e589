using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using PunkGrid.Grains;
using PunkGrid.Grains.Persistence;

namespace PunkGrid.Silo;

/// <summary>The silo's host: configuration (appsettings.json, then PUNKGRID__… environment, then options), migrations, Orleans.</summary>
public static class SiloHost
{
    /// <summary>Command-line settings that override configuration.</summary>
    public sealed record Overrides(string? Postgres, int? SiloPort, int? GatewayPort, bool? Worker, int? Slots, string? Name);

    public static HostApplicationBuilder CreateBuilder(Overrides overrides)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = Environments.Production,
        });
        var settings = new Dictionary<string, string?>();
        void Set(string key, object? value)
        {
            if (value is not null)
            {
                settings[key] = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        Set("PunkGrid:Postgres", overrides.Postgres ?? NullIfEmpty(builder.Configuration["PunkGrid:Postgres"]) ?? Environment.GetEnvironmentVariable("PUNKGRID_PG"));
        Set("PunkGrid:SiloPort", overrides.SiloPort);
        Set("PunkGrid:GatewayPort", overrides.GatewayPort);
        Set("PunkGrid:Worker:Enabled", overrides.Worker);
        Set("PunkGrid:Worker:Slots", overrides.Slots);
        Set("PunkGrid:SiloName", overrides.Name);
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        return builder;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    public static string RequirePostgres(IConfiguration configuration) =>
        NullIfEmpty(configuration["PunkGrid:Postgres"])
        ?? throw new ArgumentException(
            "no PostgreSQL connection string: pass --postgres, set PUNKGRID_PG or PUNKGRID__Postgres " +
            "(e.g. Host=127.0.0.1;Port=5432;Username=postgres;Database=punkgrid)");

    public static async Task MigrateAsync(IServiceProvider services, CancellationToken cancellation) =>
        await services.GetRequiredService<SchemaMigrator>().MigrateAsync(cancellation);

    /// <summary>Builds the silo host: PunkGrid storage, migrations at start, Orleans with PunkGrid's providers.</summary>
    public static IHost BuildSilo(Overrides overrides)
    {
        var builder = CreateBuilder(overrides);
        var configuration = builder.Configuration;
        var connectionString = RequirePostgres(configuration);
        builder.Services.AddPunkGridStorage(connectionString);
        builder.UseOrleans(silo =>
        {
            var section = configuration.GetSection("PunkGrid");
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = section["ClusterId"] ?? "punkgrid";
                o.ServiceId = section["ServiceId"] ?? "punkgrid";
            });
            var address = IPAddress.Parse(section["AdvertisedAddress"] ?? "127.0.0.1");
            silo.ConfigureEndpoints(address, section.GetValue("SiloPort", 11111), section.GetValue("GatewayPort", 30000), listenOnAnyHostAddress: false);
            if (section["SiloName"] is { Length: > 0 } name)
            {
                silo.Configure<SiloOptions>(o => o.SiloName = name);
            }
            silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(15));
            silo.AddPunkGrid(configuration);
        });
        // Migrations run before Orleans starts: membership lives in these tables.
        builder.Services.Insert(0, ServiceDescriptor.Singleton<IHostedService, MigrateOnStart>());
        return builder.Build();
    }

    private sealed class MigrateOnStart(SchemaMigrator migrator) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => migrator.MigrateAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
