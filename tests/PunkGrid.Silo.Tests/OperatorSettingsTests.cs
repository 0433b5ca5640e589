using Microsoft.Extensions.Configuration;
using PunkGrid.Server.Grains;
using PunkGrid.Silo.Dashboard;

namespace PunkGrid.Silo.Tests;

/// <summary>The dashboard's binding rules and the schedules' cron/time-zone rules, without a cluster.</summary>
[Collection(SiloCommandLineCollection.Name)]
public class OperatorSettingsTests
{
    [Theory]
    [InlineData("http://127.0.0.1:5080")]
    [InlineData("http://localhost:5080")]
    [InlineData("http://[::1]:5080")]
    [InlineData("http://127.0.0.1:5080;http://localhost:5081")]
    public void Loopback_addresses_without_a_token_get_one_made_up(string urls)
    {
        var settings = DashboardSettings.Create(urls, null);
        Assert.True(settings.Enabled && settings.TokenGenerated);
        Assert.Matches("^[0-9a-f]{32}$", settings.Token);
        Assert.NotEqual(settings.Token, DashboardSettings.Create(urls, null).Token);
        Assert.True(settings.Serves("localhost") && settings.Serves("127.0.0.1") && !settings.Serves("attacker.example"));
    }

    [Fact]
    public void Only_the_explicit_insecure_flag_drops_the_token_and_only_on_loopback()
    {
        var insecure = DashboardSettings.Create("http://127.0.0.1:5080", null, insecure: true);
        Assert.Null(insecure.Token);
        Assert.Contains("loopback addresses only", Assert.Throws<ArgumentException>(() => DashboardSettings.Create("http://10.1.2.3:80", "t", insecure: true)).Message);
    }

    [Fact]
    public void Listening_on_every_address_needs_the_allowed_host_names()
    {
        Assert.Contains("PunkGrid:Dashboard:AllowedHosts", Assert.Throws<ArgumentException>(() => DashboardSettings.Create("http://0.0.0.0:8080", "t")).Message);
        var settings = DashboardSettings.Create("http://0.0.0.0:8080", "t", "punkgrid.example, 10.0.0.5");
        Assert.True(settings.Serves("punkgrid.example") && settings.Serves("10.0.0.5") && !settings.Serves("attacker.example"));
    }

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
        Assert.True(DashboardSettings.Create(urls, "s3cret", "punkgrid.example").Enabled); // with one (and the host names, for every address) it is served
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
        var row = new PunkGrid.Server.Storage.ScheduleStore.Row("nightly", "0 3 * * *", "Europe/Berlin",
            new PunkGrid.Contracts.RunSpec("trait", [], true, "seed", new Dictionary<string, string>(), 0), false, created, null, null, null);
        // 03:00 in Berlin (UTC+1 in November) is 02:00 UTC: the first firing after creation.
        Assert.Equal(new DateTimeOffset(2026, 11, 21, 2, 0, 0, TimeSpan.Zero), ScheduleCron.NextDue(row));
        // Down for three nights, then fired once at recovery: the next due time is the next night, not the missed ones.
        var recovered = new DateTimeOffset(2026, 11, 23, 19, 0, 0, TimeSpan.Zero);
        Assert.Equal(new DateTimeOffset(2026, 11, 24, 2, 0, 0, TimeSpan.Zero), ScheduleCron.NextDue(row with { LastFiredAt = recovered }));
    }
}

/// <summary>Queue, schedule and worker settings are validated when the silo starts, naming the setting and what is allowed.</summary>
[Collection(SiloCommandLineCollection.Name)]
public class QueueSettingsTests
{
    private static IReadOnlyList<string> Failures(PunkGrid.Server.JobQueueOptions options) =>
        new PunkGrid.Server.JobQueueOptions.Validator().Validate(null, options).Failures?.ToList() ?? [];

    [Fact]
    public void The_defaults_are_valid_and_the_outage_gap_follows_the_lease()
    {
        var defaults = new PunkGrid.Server.JobQueueOptions();
        Assert.Empty(Failures(defaults));
        Assert.Equal(TimeSpan.FromSeconds(5), defaults.EffectiveOutageGap); // a quarter of 20 s
        Assert.Equal(TimeSpan.FromSeconds(3), new PunkGrid.Server.JobQueueOptions { LeaseTimeout = TimeSpan.FromSeconds(6) }.EffectiveOutageGap);
    }

    [Theory]
    [InlineData("00:00:00.5", 3, 3, "00:00:01", "LeaseTimeout 00:00:00.5000000 is too short")]
    [InlineData("00:00:20", 0, 3, "00:00:01", "MaxFailures 0 is not allowed: at least 1")]
    [InlineData("00:00:20", 3, 0, "00:00:01", "QuarantineAfterCrashes 0 is not allowed")]
    [InlineData("00:00:20", 3, 3, "00:00:30", "ExpiryScanInterval 00:00:30 is not allowed")]
    public void Bad_queue_settings_are_named(string lease, int failures, int quarantine, string scan, string expected)
    {
        var options = new PunkGrid.Server.JobQueueOptions
        {
            LeaseTimeout = TimeSpan.Parse(lease, System.Globalization.CultureInfo.InvariantCulture),
            MaxFailures = failures,
            QuarantineAfterCrashes = quarantine,
            ExpiryScanInterval = TimeSpan.Parse(scan, System.Globalization.CultureInfo.InvariantCulture),
        };
        Assert.Contains(Failures(options), f => f.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void A_simultaneous_death_window_past_half_the_lease_is_refused()
    {
        var options = new PunkGrid.Server.JobQueueOptions { SimultaneousDeathWindow = TimeSpan.FromSeconds(11) };
        Assert.Contains(Failures(options), f => f.Contains(
            "SimultaneousDeathWindow 00:00:11 is not allowed: at least zero and at most half the LeaseTimeout (00:00:20)", StringComparison.Ordinal));
    }

    [Fact]
    public void A_heartbeat_slower_than_a_third_of_the_lease_is_refused()
    {
        var validator = new PunkGrid.Server.WorkerOptions.Validator(Microsoft.Extensions.Options.Options.Create(new PunkGrid.Server.JobQueueOptions()));
        var result = validator.Validate(null, new PunkGrid.Server.WorkerOptions { HeartbeatInterval = TimeSpan.FromSeconds(10), Device = "tpu" });
        Assert.Contains(result.Failures!, f => f.Contains("HeartbeatInterval 00:00:10 is not allowed: above zero and at most a third of the lease timeout", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("Device 'tpu' is not allowed", StringComparison.Ordinal));
        Assert.True(validator.Validate(null, new PunkGrid.Server.WorkerOptions()).Succeeded);
    }

    private static IReadOnlyList<string> HostFailures(Action<ClusterHostOptions> change)
    {
        var options = new ClusterHostOptions { Postgres = "Host=127.0.0.1" };
        change(options);
        return new ClusterHostOptions.Validator().Validate(null, options).Failures?.ToList() ?? [];
    }

    [Fact]
    public void Host_settings_are_validated_naming_each_bad_value()
    {
        Assert.Empty(HostFailures(_ => { }));
        Assert.Contains(ClusterHostOptions.MissingPostgres, HostFailures(o => o.Postgres = " "));
        Assert.Contains(HostFailures(o => o.GatewayPort = 70000), f => f.Contains("PunkGrid:GatewayPort 70000 is not allowed: a port from 1 to 65535", StringComparison.Ordinal));
        Assert.Contains(HostFailures(o => (o.SiloPort, o.GatewayPort) = (5000, 5000)), f => f.Contains("PunkGrid:SiloPort and PunkGrid:GatewayPort are both 5000", StringComparison.Ordinal));
        Assert.Contains(HostFailures(o => o.ClusterId = ""), f => f.Contains("PunkGrid:ClusterId '' is not allowed", StringComparison.Ordinal));
        Assert.Contains(HostFailures(o => o.AdvertisedAddress = "no-such-host.invalid"), f => f.StartsWith("PunkGrid:AdvertisedAddress 'no-such-host.invalid' is neither", StringComparison.Ordinal));
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["PunkGrid:Postgres"] = "Host=db",
            ["PunkGrid:SiloPort"] = "0",
        }).Build();
        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => ClusterHostOptions.Load(configuration));
        Assert.Contains("PunkGrid:SiloPort 0 is not allowed", error.Message);
    }

    [Theory]
    [InlineData("PUNKGRID__GatewayPort", "11111", "PunkGrid:SiloPort and PunkGrid:GatewayPort are both 11111")]
    [InlineData("PUNKGRID__Dashboard__Urls", "http://10.1.2.3:80", "is not a loopback address: set a bearer token")]
    [InlineData("PUNKGRID__Tls__Insecure", "false", "the cluster's connections need TLS certificates")]
    public async Task Serve_refuses_bad_host_dashboard_or_tls_settings_before_starting_anything(string variable, string value, string expected)
    {
        var stderr = new StringWriter();
        Environment.SetEnvironmentVariable("PUNKGRID__Tls__Insecure", "true");
        Environment.SetEnvironmentVariable(variable, value);
        try
        {
            var arguments = variable.Contains("Dashboard", StringComparison.Ordinal)
                ? new[] { "serve", "--postgres", "Host=127.0.0.1;Port=1;Username=x", "--no-worker" }
                : ["serve", "--postgres", "Host=127.0.0.1;Port=1;Username=x", "--dashboard", "off", "--no-worker"];
            var exit = await SiloCommandLine.RunAsync(arguments, new StringWriter(), stderr);
            Assert.True(exit == SiloCommandLine.BadInput, stderr.ToString());
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
            Environment.SetEnvironmentVariable("PUNKGRID__Tls__Insecure", null);
        }
        Assert.Contains(expected, stderr.ToString());
    }

    [Theory]
    [InlineData("PUNKGRID__Queue__MaxFailures")]
    [InlineData("PUNKGRID__Scheduling__MaxFailures")] // the name before PunkGrid:Queue: still read, under its new name
    public async Task Serve_stops_at_start_with_exit_code_2_naming_a_bad_setting(string variable)
    {
        var stderr = new StringWriter();
        Environment.SetEnvironmentVariable(variable, "0");
        Environment.SetEnvironmentVariable("PUNKGRID__Tls__Insecure", "true");
        try
        {
            var exit = await SiloCommandLine.RunAsync(["serve", "--postgres", "Host=127.0.0.1;Port=1;Username=x", "--dashboard", "off", "--no-worker"], new StringWriter(), stderr);
            Assert.True(exit == SiloCommandLine.BadInput, stderr.ToString());
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
            Environment.SetEnvironmentVariable("PUNKGRID__Tls__Insecure", null);
        }
        Assert.Contains("PunkGrid:Queue:MaxFailures 0 is not allowed", stderr.ToString());
    }

    [Fact]
    public void Settings_under_their_old_names_are_read_under_the_new_ones_with_a_warning()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["PunkGrid:Scheduling:LeaseTimeout"] = "00:00:30",
            ["PunkGrid:Scheduling:ScheduleTick"] = "00:00:05",
            ["PunkGrid:Scheduling:MaxFailures"] = "7",
            ["PunkGrid:Queue:MaxFailures"] = "5", // the new name wins
        }).Build();
        var (values, warnings) = DeprecatedSettings.Map(configuration, _ => null);
        Assert.Equal("00:00:30", values["PunkGrid:Queue:LeaseTimeout"]);
        Assert.Equal("00:00:05", values["PunkGrid:Schedules:Tick"]);
        Assert.False(values.ContainsKey("PunkGrid:Queue:MaxFailures"));
        Assert.Contains("PunkGrid:Scheduling:LeaseTimeout is deprecated and read as PunkGrid:Queue:LeaseTimeout: rename it (env PUNKGRID__Queue__LeaseTimeout)", warnings);
        Assert.Contains("PunkGrid:Scheduling:ScheduleTick is deprecated and read as PunkGrid:Schedules:Tick: rename it (env PUNKGRID__Schedules__Tick)", warnings);
        Assert.Contains("PunkGrid:Scheduling:MaxFailures is deprecated and ignored: PunkGrid:Queue:MaxFailures is set (env PUNKGRID__Queue__MaxFailures)", warnings);
        Assert.Empty(DeprecatedSettings.Map(new ConfigurationBuilder().AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: false).Build(),
            _ => null).Warnings);

        // The database's short variable from before: read as PunkGrid:Postgres unless that is set.
        var empty = new ConfigurationBuilder().Build();
        var (database, said) = DeprecatedSettings.Map(empty, name => name == "PUNKGRID_PG" ? "Host=old" : null);
        Assert.Equal("Host=old", database["PunkGrid:Postgres"]);
        Assert.Contains("PUNKGRID_PG is deprecated and read as PunkGrid:Postgres: set PUNKGRID__Postgres instead", said);
        var configured = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["PunkGrid:Postgres"] = "Host=new" }).Build();
        Assert.False(DeprecatedSettings.Map(configured, name => name == "PUNKGRID_PG" ? "Host=old" : null).Values.ContainsKey("PunkGrid:Postgres"));
    }
}

/// <summary>The cluster's certificates: made by <c>silo tls create</c>, and only a silo without them and without the explicit insecure flag refuses to start.</summary>
[Collection(SiloCommandLineCollection.Name)]
public class ClusterTlsTests
{
    [Fact]
    public void A_created_set_chains_to_its_authority_with_the_right_usages_and_private_keys_kept_private()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"punkgrid-tls-{Guid.NewGuid():N}");
        ClusterTls.CreateSet(folder, ["silo-1.example", "10.0.0.5"], TimeSpan.FromDays(30));
        var authority = ClusterTls.LoadAuthority(Path.Combine(folder, ClusterTls.CaFile));
        var silo = ClusterTls.LoadKeyed(Path.Combine(folder, ClusterTls.SiloFile));
        var client = ClusterTls.LoadKeyed(Path.Combine(folder, ClusterTls.ClientFile));
        Assert.True(PunkGrid.Contracts.ClusterCertificates.IssuedBy(silo, authority, PunkGrid.Contracts.ClusterCertificates.ServerAuthentication));
        Assert.True(PunkGrid.Contracts.ClusterCertificates.IssuedBy(client, authority, PunkGrid.Contracts.ClusterCertificates.ClientAuthentication));
        Assert.False(PunkGrid.Contracts.ClusterCertificates.IssuedBy(client, authority, PunkGrid.Contracts.ClusterCertificates.ServerAuthentication)); // an operator cannot pose as a silo
        var other = Path.Combine(Path.GetTempPath(), $"punkgrid-tls-{Guid.NewGuid():N}");
        ClusterTls.CreateSet(other, [], TimeSpan.FromDays(30));
        Assert.False(PunkGrid.Contracts.ClusterCertificates.IssuedBy(silo, ClusterTls.LoadAuthority(Path.Combine(other, ClusterTls.CaFile)), PunkGrid.Contracts.ClusterCertificates.ServerAuthentication));
        foreach (var secret in new[] { ClusterTls.CaKeyFile, ClusterTls.SiloFile, ClusterTls.ClientFile })
        {
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(folder, secret)));
            }
        }
        Assert.Contains("already holds a certificate authority", Assert.Throws<ArgumentException>(() => ClusterTls.CreateSet(folder, [], TimeSpan.FromDays(1))).Message);
        ClusterTls.IssueFrom(folder, "silo", ["silo-2.example"], Path.Combine(folder, "silo-2.pfx"), TimeSpan.FromDays(30));
        Assert.True(PunkGrid.Contracts.ClusterCertificates.IssuedBy(ClusterTls.LoadKeyed(Path.Combine(folder, "silo-2.pfx")), authority, PunkGrid.Contracts.ClusterCertificates.ServerAuthentication));
    }

    [Fact]
    public async Task Serve_without_certificates_or_the_insecure_flag_is_refused_naming_both()
    {
        var stderr = new StringWriter();
        var exit = await SiloCommandLine.RunAsync(["serve", "--postgres", "Host=127.0.0.1;Port=1;Username=x", "--dashboard", "off"], new StringWriter(), stderr);
        Assert.Equal(SiloCommandLine.BadInput, exit);
        Assert.Contains("PunkGrid:Tls:Directory", stderr.ToString());
        Assert.Contains("PunkGrid:Tls:Insecure", stderr.ToString());
    }
}
