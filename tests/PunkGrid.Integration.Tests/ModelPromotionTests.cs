using System.Text.Json;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// Retraining that ships better models, end to end on the cluster: a schedule's run with <c>--promote-if-better
/// production</c> registers its trait models and moves <c>production</c> only for the traits whose new model scores
/// better; <c>predict traits --alias production</c> then serves each trait from the version its alias points at, and the
/// dashboard's registry view shows which version serves.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ModelPromotionTests(ClusterFixture cluster)
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(4);
    private static readonly string[] Sweep = ["traits", "--traits", "Hoodie,Earring", "--profile", "quick", "--epochs", "1", "--train-samples", "200"];

    private async Task<Dictionary<string, double>> PredictAsync(params string[] source)
    {
        var predict = await cluster.Cli(["predict", "traits", .. source, "--punk", "7", "--json"]);
        Assert.True(predict.Exit == 0, predict.Error);
        return JsonDocument.Parse(predict.Out).RootElement.EnumerateArray()
            .ToDictionary(p => p.GetProperty("trait").GetString()!, p => p.GetProperty("probability").GetDouble());
    }

    [Fact]
    public async Task A_scheduled_retraining_promotes_only_the_traits_whose_new_model_is_better_and_predict_follows_the_alias()
    {
        // Production today: a first sweep, registered, both traits aliased to its versions.
        Assert.Equal(0, (await cluster.Cli([.. Sweep.Prepend("submit"), "--run-id", "registry-base"])).Exit);
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from jobs where run_id = @id and state = 'Succeeded'", "registry-base") == 2,
            Bound, "the first sweep");
        var registered = await cluster.Cli("models", "register", "--run", "registry-base", "--json");
        Assert.True(registered.Exit == 0, registered.Error);
        var versions = JsonDocument.Parse(registered.Out).RootElement.EnumerateArray().ToDictionary(v => v.GetProperty("model").GetString()!, v => v.GetProperty("version").GetInt32());
        foreach (var (model, version) in versions)
        {
            var alias = await cluster.Cli("models", "alias", model, "production", $"{version}");
            Assert.True(alias.Exit == 0, alias.Error);
        }
        // Make the outcome certain: Hoodie's production model scores what no model can beat, Earring's what any model beats.
        await using (var scores = cluster.Database.CreateCommand("""
            update model_versions set metric = case model when 'trait/Hoodie' then 2 else -1 end where run_id = 'registry-base'
            """))
        {
            Assert.Equal(2, await scores.ExecuteNonQueryAsync());
        }

        // The nightly retraining, every second here: its first run promotes, then the schedule is paused.
        var add = await cluster.Cli(["schedule", "add", "--name", "retrain", "--cron", "* * * * * *", "--", .. Sweep, "--promote-if-better", "production"]);
        Assert.True(add.Exit == 0, add.Error);
        string run = "";
        await cluster.WaitUntilAsync(async () => (run = await cluster.ScalarAsync("select coalesce(last_run_id, '') from schedules where name = @id", "retrain")) != "",
            TimeSpan.FromSeconds(60), "the schedule to fire");
        Assert.Equal(0, (await cluster.Cli("schedule", "pause", "retrain")).Exit);
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from model_promotions where run_id = @id", run) == 2,
            Bound, "the retraining run to end and promote");

        var promotions = await cluster.Cli("models", "promotions", "--json");
        var decisions = JsonDocument.Parse(promotions.Out).RootElement.EnumerateArray().Where(d => d.GetProperty("run_id").GetString() == run)
            .ToDictionary(d => d.GetProperty("model").GetString()!);
        Assert.False(decisions["trait/Hoodie"].GetProperty("promoted").GetBoolean());
        Assert.Equal(2, decisions["trait/Hoodie"].GetProperty("current_metric").GetDouble());
        Assert.True(decisions["trait/Earring"].GetProperty("promoted").GetBoolean());
        Assert.Equal(-1, decisions["trait/Earring"].GetProperty("current_metric").GetDouble());
        Assert.All(decisions.Values, d => Assert.Equal(JsonValueKind.Number, d.GetProperty("candidate_metric").ValueKind)); // both scores recorded

        var earring = JsonDocument.Parse((await cluster.Cli("models", "show", "trait/Earring", "--json")).Out).RootElement;
        Assert.Equal(versions["trait/Earring"] + 1, earring.GetProperty("aliases").GetProperty("production").GetInt32());
        var hoodie = JsonDocument.Parse((await cluster.Cli("models", "show", "trait/Hoodie", "--json")).Out).RootElement;
        Assert.Equal(versions["trait/Hoodie"], hoodie.GetProperty("aliases").GetProperty("production").GetInt32());

        // Serving follows the alias: Earring from the retraining run, Hoodie still from the first sweep.
        var production = await PredictAsync("--alias", "production");
        Assert.Equal((await PredictAsync("--run", run))["Earring"], production["Earring"]);
        Assert.Equal((await PredictAsync("--run", "registry-base"))["Hoodie"], production["Hoodie"]);

        // The dashboard's registry view says which version serves.
        await using var chromium = await HeadlessChromium.LaunchAsync();
        var page = await chromium.OpenAsync(new Uri(cluster.Silos.First(s => !s.HasExited).DashboardUrl, "#/models"));
        await page.WaitForSelectorAsync($"[data-model='trait/Earring'] [data-alias='production'][data-version='{versions["trait/Earring"] + 1}']");
        await page.WaitForSelectorAsync($"[data-model='trait/Hoodie'] [data-alias='production'][data-version='{versions["trait/Hoodie"]}']");
        await page.WaitForSelectorAsync("[data-promotion='trait/Earring'][data-promoted='true']");
        Assert.Equal(0, await page.Locator("#load-error").CountAsync());
        await cluster.Cli("schedule", "remove", "retrain");
    }
}
