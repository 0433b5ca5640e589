using Microsoft.Extensions.DependencyInjection;
using PunkGrid.Server;
using PunkGrid.Server.Storage;

namespace PunkGrid.Silo;

/// <summary><c>silo migrate</c>: applies the schema migrations and exits.</summary>
public static partial class SiloCommandLine
{
    private static Command MigrateCommand(TextWriter stdout, TextWriter stderr)
    {
        var migrate = new Command("migrate", "Apply PunkGrid's database migrations (serve also does this at start) and exit.");
        migrate.Options.Add(PostgresOption);
        migrate.SetAction(async (parse, cancellation) =>
        {
            try
            {
                var builder = SiloHost.CreateBuilder(new SiloHost.Overrides(parse.GetValue(PostgresOption), null, null, null, null, null));
                builder.Services.AddPunkGridStorage(SiloHost.RequirePostgres(builder.Configuration));
                using var host = builder.Build();
                var applied = await host.Services.GetRequiredService<SchemaMigrator>().MigrateAsync(cancellation);
                await stdout.WriteLineAsync(applied.Count == 0
                    ? "database is up to date"
                    : $"applied migration(s) {string.Join(", ", applied)}");
                return 0;
            }
            catch (ArgumentException ex)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return BadInput;
            }
            catch (Npgsql.NpgsqlException ex)
            {
                await stderr.WriteLineAsync($"error: cannot reach PostgreSQL: {ex.Message}");
                return 1;
            }
        });
        return migrate;
    }
}
