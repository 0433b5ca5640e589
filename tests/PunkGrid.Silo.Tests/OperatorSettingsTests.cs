using PunkGrid.Grains.Jobs;
using PunkGrid.Silo.Dashboard;

namespace PunkGrid.Silo.Tests;

/// <summary>The dashboard's binding rules and the schedules' cron/time-zone rules, without a cluster.</summary>
public class OperatorSettingsTests
{
    [Theory]
    [InlineData("http://127.0.0.1:5080")]
    [InlineData("http://localhost:5080")]
    [InlineData("http://[::1]:5080")]
    [InlineData("http://127.0.0.1:5080;http://localhost:5081")]
    public void Loopback_addresses_need_no_token(string urls) => Assert.True(DashboardSettings.Create(urls, null).Enabled);

    [Theory]
    [InlineData("http://0.0.0.0:8080")]
    [InlineData("http://*:8080")]
    [InlineData("http://+:8080")]
    [InlineData("http://10.1.2.3:8080")]
    [InlineData("http://127.0.0.1:5080;http://punkgrid.example:80")]
    public void A_public_address_without_a_token_is_refused_naming_it(string urls)
    {
        var error = Assert.Throws<ArgumentException>(() => DashboardSettings.Create(urls, " "));
        Assert.Contains("is not a loopback address: set a bearer token", error.Message);
        Assert.Contains(urls.Split(';')[^1], error.Message);
        Assert.True(DashboardSettings.Create(urls, "s3cret").Enabled); // with one it is served
    }

    [Theory]
    [InlineData("ftp://127.0.0.1:21")]
    [InlineData("127.0.0.1:5080")]
    [InlineData("http://127.0.0.1:5080/dashboard")]
    public void A_malformed_url_is_refused(string url) =>
        Assert.Contains($"dashboard URL '{url}' is not valid", Assert.Throws<ArgumentException>(() => DashboardSettings.Create(url, null)).Message);

    [Fact]
    public void Off_turns_the_http_surface_off_and_empty_means_the_default()
    {
        Assert.False(DashboardSettings.Create("off", null).Enabled);
        Assert.Equal([DashboardSettings.DefaultUrl], DashboardSettings.Create("", null).Urls);
    }

    [Fact]
    public async Task Serve_refuses_a_public_dashboard_without_a_token_before_starting_anything()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await SiloCommandLine.RunAsync(["serve", "--postgres", "Host=127.0.0.1;Port=1;Username=x", "--dashboard", "http://0.0.0.0:5999"], stdout, stderr);
        Assert.Equal(SiloCommandLine.BadInput, exit);
        Assert.Contains("dashboard URL 'http://0.0.0.0:5999' is not a loopback address", stderr.ToString());
    }

    [Fact]
    public void Cron_expressions_take_five_or_six_fields_and_name_what_is_wrong()
    {
        Assert.NotNull(ScheduleCron.Parse("0 3 * * *"));
        Assert.NotNull(ScheduleCron.Parse("*/5 * * * * *"));
        Assert.Contains("cron '0 3 * *' has 4 fields", Assert.Throws<ArgumentException>(() => ScheduleCron.Parse("0 3 * *")).Message);
        Assert.Contains("cron '0 25 * * *' is not valid", Assert.Throws<ArgumentException>(() => ScheduleCron.Parse("0 25 * * *")).Message);
        Assert.Contains("time zone 'Mars/Olympus' is unknown", Assert.Throws<ArgumentException>(() => ScheduleCron.Zone("Mars/Olympus")).Message);
    }

    [Fact]
    public void Missed_firings_coalesce_into_one_due_firing_and_time_zones_are_honoured()
    {
        var created = new DateTimeOffset(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);
        var row = new PunkGrid.Grains.Persistence.ScheduleStore.Row("nightly", "0 3 * * *", "Europe/Berlin",
            new PunkGrid.Contracts.RunSpec("trait", [], true, "seed", new Dictionary<string, string>(), 0), false, created, null, null, null);
        // 03:00 in Berlin (UTC+1 in November) is 02:00 UTC: the first firing after creation.
        Assert.Equal(new DateTimeOffset(2026, 11, 21, 2, 0, 0, TimeSpan.Zero), ScheduleCron.NextDue(row));
        // Down for three nights, then fired once at recovery: the next due time is the next night, not the missed ones.
        var recovered = new DateTimeOffset(2026, 11, 23, 19, 0, 0, TimeSpan.Zero);
        Assert.Equal(new DateTimeOffset(2026, 11, 24, 2, 0, 0, TimeSpan.Zero), ScheduleCron.NextDue(row with { LastFiredAt = recovered }));
    }
}
