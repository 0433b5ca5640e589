using System.Text.Json;
using PunkGrid.Client;
using PunkGrid.Contracts;

namespace PunkGrid.Integration.Tests;

/// <summary>The orchestrator end to end: two silo processes on PostgreSQL, driven through the real CLI.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterTests(ClusterFixture cluster)
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task A_submitted_sweep_succeeds_with_metrics_checkpoints_and_artifacts_in_postgres()
    {
        var (exit, stdout, stderr) = await cluster.Cli("submit", "traits", "--traits", "Male,hoodie,Earring", "--profile", "quick",
            "--train-samples", "300", "--run-id", "sweep-1", "--json");
        Assert.True(exit == 0, stderr);
        Assert.Equal(3, JsonDocument.Parse(stdout).RootElement.GetProperty("job_count").GetInt32());

        var watch = await cluster.Cli("watch", "sweep-1");
        Assert.True(watch.Exit == 0, watch.Out + watch.Error);
        Assert.Contains("run sweep-1 finished: Succeeded", watch.Out);

        foreach (var job in new[] { "sweep-1.male", "sweep-1.hoodie", "sweep-1.earring" })
        {
            Assert.Equal("Succeeded", await cluster.StateOfAsync(job));
            Assert.True(await cluster.CountAsync("select count(*) from metrics where job_id = @id and name = 'train_loss'", job) >= 3);
            Assert.Equal(1, await cluster.CountAsync("select count(*) from checkpoints where job_id = @id", job));
            Assert.Equal(2, await cluster.CountAsync("select count(*) from artifacts where job_id = @id and name in ('eval.json', 'model.bin')", job));
        }

        var results = await cluster.Cli("results", "sweep-1", "--json");
        var rows = JsonDocument.Parse(results.Out).RootElement.EnumerateArray().ToList();
        Assert.Equal(["Earring", "Hoodie", "Male"], rows.Select(r => r.GetProperty("trait").GetString()));
        Assert.All(rows, r => Assert.InRange(r.GetProperty("f1").GetDouble(), 0, 1));
        var markdown = await cluster.Cli("results", "sweep-1", "--format", "md", "--threshold", "0.5");
        Assert.True(markdown.Exit == 0, markdown.Error);
        var lines = markdown.Out.Split('\n');
        Assert.Equal("| trait | accuracy | precision | recall | F1 | test positives | seconds |", lines[0]);
        Assert.Equal(["Earring", "Hoodie", "Male"], lines.Skip(2).Take(3).Select(l => l.Split(" | ")[0].TrimStart('|', ' ')));
        Assert.StartsWith("- `sweep-1`: 3 traits, mean F1 ", lines.Single(l => l.StartsWith("- ", StringComparison.Ordinal)));
        var badFormat = await cluster.Cli("results", "sweep-1", "--format", "html");
        Assert.Equal(PunkGridCommandLine.BadInput, badFormat.Exit);

        var metrics = await cluster.Cli("metrics", "sweep-1.male", "--csv");
        Assert.StartsWith("attempt,epoch,step,name,value", metrics.Out);
        var folder = Path.Combine(Path.GetTempPath(), $"punkgrid-artifacts-{Guid.NewGuid():N}");
        Assert.Equal(0, (await cluster.Cli("artifacts", "sweep-1.male", "--out", folder)).Exit);
        Assert.Equal("Male", JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "eval.json"))).RootElement.GetProperty("trait").GetString());

        var predicted = await cluster.Cli("predict", "traits", "--run", "sweep-1", "--punk", "0", "--json");
        Assert.True(predicted.Exit == 0, predicted.Error);
        var predictions = JsonDocument.Parse(predicted.Out).RootElement.EnumerateArray().ToList();
        Assert.Equal(3, predictions.Count);
        Assert.Contains(predictions, p => p.GetProperty("trait").GetString() == "Earring" && p.GetProperty("actual").GetBoolean()); // punk 0 wears an earring
        Assert.All(predictions, p => Assert.InRange(p.GetProperty("probability").GetDouble(), 0, 1));
        Assert.All(predictions, p => Assert.Equal(p.GetProperty("probability").GetDouble() >= p.GetProperty("threshold").GetDouble(), p.GetProperty("predicted").GetBoolean()));
        var tile = Path.Combine(Path.GetTempPath(), $"punk-{Guid.NewGuid():N}.png");
        using (var file = File.Create(tile))
        {
            new StbImageWriteSharp.ImageWriter().WritePng(new byte[10 * 10 * 4], 10, 10, StbImageWriteSharp.ColorComponents.RedGreenBlueAlpha, file);
        }
        var wrongSize = await cluster.Cli("predict", "traits", "--run", "sweep-1", "--image", tile);
        Assert.Equal(PunkGridCommandLine.BadInput, wrongSize.Exit);
        Assert.Contains("the image is 10x10; a punk is 24x24", wrongSize.Error);

        var runs = await cluster.Cli("runs", "--json");
        Assert.Contains(JsonDocument.Parse(runs.Out).RootElement.EnumerateArray(), r => r.GetProperty("run_id").GetString() == "sweep-1");
    }

    [Fact]
    public async Task A_vae_job_runs_on_the_cluster_and_stores_its_png_artifacts()
    {
        var submit = await cluster.Cli("submit", "vae", "--profile", "quick", "--set", "train_limit=32", "--set", "test_limit=8",
            "--set", "batch_size=16", "--set", "judge_epochs=0", "--run-id", "vae-1");
        Assert.True(submit.Exit == 0, submit.Error);
        await cluster.WaitUntilAsync(async () => await cluster.StateOfAsync("vae-1.vae") is "Succeeded" or "Failed", JobTimeout, "the VAE job");
        Assert.Equal("Succeeded", await cluster.StateOfAsync("vae-1.vae"));
        Assert.Equal(3, await cluster.CountAsync("select count(*) from artifacts where job_id = @id and content_type = 'image/png'", "vae-1.vae"));
        Assert.True(await cluster.CountAsync("select count(*) from metrics where job_id = @id and name = 'test_mse'", "vae-1.vae") == 1);
        var jobs = await cluster.Cli("jobs", "vae-1");
        Assert.Contains("test_mse", jobs.Out);
        var png = Path.Combine(Path.GetTempPath(), $"vae-{Guid.NewGuid():N}.png");
        var generated = await cluster.Cli("generate", "vae", "--run", "vae-1", "--count", "4", "--out", png);
        Assert.True(generated.Exit == 0, generated.Error);
        var image = StbImageSharp.ImageResult.FromMemory(File.ReadAllBytes(png));
        Assert.Equal(((4 * 128) + (3 * 2), 128), (image.Width, image.Height));
        var notAGan = await cluster.Cli("generate", "gan", "--run", "vae-1", "--out", png);
        Assert.Equal(PunkGridCommandLine.BadInput, notAGan.Exit);
        Assert.Contains("run 'vae-1' has no succeeded gan job", notAGan.Error);

        // Registered and aliased, the model serves by its alias.
        var noAlias = await cluster.Cli("generate", "vae", "--alias", "staging", "--out", png);
        Assert.Equal(PunkGridCommandLine.BadInput, noAlias.Exit);
        Assert.Contains("model 'vae' has no version with alias 'staging'", noAlias.Error);
        var registered = await cluster.Cli("models", "register", "--run", "vae-1", "--json");
        Assert.True(registered.Exit == 0, registered.Error);
        var version = System.Text.Json.JsonDocument.Parse(registered.Out).RootElement.EnumerateArray().Single().GetProperty("version").GetInt32();
        Assert.Equal(0, (await cluster.Cli("models", "alias", "vae", "staging", $"{version}")).Exit);
        var byAlias = await cluster.Cli("generate", "vae", "--alias", "staging", "--count", "2", "--out", png);
        Assert.True(byAlias.Exit == 0, byAlias.Error);
        Assert.Contains("from job vae-1.vae", byAlias.Out);
    }

    [Fact]
    public async Task A_conditional_gan_job_runs_on_the_cluster_and_stores_its_sample_grids()
    {
        var submit = await cluster.Cli("submit", "gan", "--profile", "quick", "--set", "conditional=true", "--set", "train_limit=32",
            "--set", "batch_size=16", "--set", "judge_epochs=0", "--run-id", "gan-1");
        Assert.True(submit.Exit == 0, submit.Error);
        await cluster.WaitUntilAsync(async () => await cluster.StateOfAsync("gan-1.gan") is "Succeeded" or "Failed", JobTimeout, "the GAN job");
        Assert.Equal("Succeeded", await cluster.StateOfAsync("gan-1.gan"));
        Assert.Equal(2, await cluster.CountAsync("select count(*) from artifacts where job_id = @id and name in ('samples.png', 'samples-epoch-0001.png')", "gan-1.gan"));
        Assert.Equal(2, await cluster.CountAsync("select count(*) from metrics where job_id = @id and name = 'g_loss'", "gan-1.gan"));
        var png = Path.Combine(Path.GetTempPath(), $"gan-{Guid.NewGuid():N}.png");
        var generated = await cluster.Cli("generate", "gan", "--run", "gan-1", "--traits", "Female,Tiara", "--count", "16", "--out", png);
        Assert.True(generated.Exit == 0, generated.Error);
        var image = StbImageSharp.ImageResult.FromMemory(File.ReadAllBytes(png));
        Assert.Equal(((8 * 64) + (7 * 2), (2 * 64) + 2), (image.Width, image.Height));
        var unknownTrait = await cluster.Cli("generate", "gan", "--run", "gan-1", "--traits", "Wings", "--out", png);
        Assert.Equal(PunkGridCommandLine.BadInput, unknownTrait.Exit);
        Assert.Contains("unknown trait 'Wings'", unknownTrait.Error);
    }

    [Fact]
    public async Task A_pokemon_job_runs_on_the_cluster_and_classifies_an_image()
    {
        var submit = await cluster.Cli("submit", "pokemon", "--profile", "quick", "--set", "class_limit=3", "--set", "image_size=32", "--run-id", "poke-1");
        Assert.True(submit.Exit == 0, submit.Error);
        await cluster.WaitUntilAsync(async () => await cluster.StateOfAsync("poke-1.pokemon") is "Succeeded" or "Failed", JobTimeout, "the Pokémon job");
        Assert.Equal("Succeeded", await cluster.StateOfAsync("poke-1.pokemon"));
        var image = Path.Combine(PunkGrid.Training.Data.DataDirectory.Resolve(), "pokemon", "images", "bulbasaur001.jpg");
        var predicted = await cluster.Cli("predict", "pokemon", "--run", "poke-1", "--image", image, "--json");
        Assert.True(predicted.Exit == 0, predicted.Error);
        var top = JsonDocument.Parse(predicted.Out).RootElement.EnumerateArray().ToList();
        Assert.Equal(3, top.Count); // 3 classes known: bulbasaur, ivysaur, venusaur
        Assert.Equal(["bulbasaur", "ivysaur", "venusaur"], top.Select(p => p.GetProperty("name").GetString()).Order());
        Assert.InRange(top.Sum(p => p.GetProperty("probability").GetDouble()), 0.99, 1.01);

        var notAnImage = Path.Combine(Path.GetTempPath(), $"not-an-image-{Guid.NewGuid():N}.jpg");
        File.WriteAllText(notAnImage, "hello");
        var bad = await cluster.Cli("predict", "pokemon", "--run", "poke-1", "--image", notAnImage);
        Assert.Equal(PunkGridCommandLine.BadInput, bad.Exit);
        Assert.Contains("the file is not a readable PNG/JPEG/BMP/GIF image (5 bytes)", bad.Error);
    }

    [Fact]
    public async Task Both_silos_register_as_workers()
    {
        await cluster.WaitUntilAsync(async () =>
        {
            var (exit, stdout, _) = await cluster.Cli("workers", "--json");
            return exit == 0 && JsonDocument.Parse(stdout).RootElement.EnumerateArray().Count(w => w.GetProperty("alive").GetBoolean()) == 2;
        }, TimeSpan.FromSeconds(30), "two alive workers");
        var workers = JsonDocument.Parse((await cluster.Cli("workers", "--json")).Out).RootElement.EnumerateArray()
            .Select(w => w.GetProperty("worker_id").GetString()!).ToList();
        Assert.Contains(workers, w => w.StartsWith("silo-a@", StringComparison.Ordinal));
        Assert.Contains(workers, w => w.StartsWith("silo-b@", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Silos_execute_themselves_again_with_glibc_malloc_tuned_for_libtorch()
    {
        var running = cluster.Silos.Where(s => !s.HasExited).ToList();
        Assert.NotEmpty(running);
        foreach (var silo in running)
        {
            // Same process (the test started it without GLIBC_TUNABLES): it executed itself again, and says so in its log.
            var environment = await File.ReadAllTextAsync($"/proc/{silo.Pid}/environ");
            Assert.Contains("\0GLIBC_TUNABLES=", "\0" + environment, StringComparison.Ordinal);
            // The worker logs it when it initialises libtorch, which may be after the gateway opened.
            await cluster.WaitUntilAsync(() => Task.FromResult(File.ReadLines(silo.LogPath).Any(line => line.Contains("Native memory: glibc malloc tuned for libtorch", StringComparison.Ordinal))),
                TimeSpan.FromSeconds(30), $"{silo.Name} logging its tuned native memory");
            // No signal stays blocked across the new start (SIGTERM must still stop it gracefully).
            var blocked = File.ReadLines($"/proc/{silo.Pid}/status").Single(l => l.StartsWith("SigBlk:", StringComparison.Ordinal));
            Assert.Equal(0UL, Convert.ToUInt64(blocked["SigBlk:".Length..].Trim(), 16));
        }
    }

    [Fact]
    public async Task Submitting_the_same_run_id_twice_changes_nothing()
    {
        string[] submit = ["submit", "traits", "--traits", "Alien", "--profile", "quick", "--train-samples", "100", "--run-id", "same-id"];
        Assert.Contains("1 job(s) queued", (await cluster.Cli(submit)).Out);
        var again = await cluster.Cli(submit);
        Assert.Equal(0, again.Exit);
        Assert.Contains("already exists", again.Out);
        Assert.Equal(1, await cluster.CountAsync("select count(*) from jobs where run_id = @id", "same-id"));
        Assert.Equal(1, await cluster.CountAsync("select count(*) from job_events where job_id = @id and detail = 'submitted'", "same-id.alien"));
        await cluster.WaitUntilAsync(async () => await cluster.StateOfAsync("same-id.alien") == "Succeeded", JobTimeout, "same-id to succeed");
    }

    [Fact]
    public async Task Cancelling_a_running_job_stops_it()
    {
        Assert.Equal(0, (await cluster.Cli("submit", "traits", "--traits", "Beanie", "--profile", "quick", "--epochs", "500", "--run-id", "to-cancel")).Exit);
        await cluster.WaitUntilAsync(async () => await cluster.StateOfAsync("to-cancel.beanie") == "Running", JobTimeout, "the job to run");

        var cancel = await cluster.Cli("cancel", "to-cancel");
        Assert.True(cancel.Exit == 0, cancel.Error);
        Assert.Equal("Cancelled", await cluster.StateOfAsync("to-cancel.beanie"));
        // The worker learns of it at its next heartbeat and stops training: no new metrics arrive.
        await cluster.WaitUntilAsync(async () =>
        {
            var before = await cluster.CountAsync("select count(*) from metrics where job_id = @id", "to-cancel.beanie");
            await Task.Delay(3000);
            return before == await cluster.CountAsync("select count(*) from metrics where job_id = @id", "to-cancel.beanie");
        }, TimeSpan.FromSeconds(60), "the worker to stop the cancelled job");

        var again = await cluster.Cli("cancel", "to-cancel.beanie");
        Assert.Equal(PunkGridCommandLine.BadInput, again.Exit);
        Assert.Contains("already Cancelled", again.Error);
        var retry = await cluster.Cli("retry", "to-cancel.beanie");
        Assert.Equal(0, retry.Exit);
        Assert.Equal(0, (await cluster.Cli("cancel", "to-cancel.beanie")).Exit);
    }

    [Theory]
    [InlineData(new[] { "submit", "traits", "--traits", "Unicorn", "--run-id", "bad-1" }, "unknown trait 'Unicorn'")]
    [InlineData(new[] { "submit", "traits", "--traits", "Male", "--epochs", "0", "--run-id", "bad-2" }, "epochs='0' is not allowed")]
    [InlineData(new[] { "submit", "traits", "--traits", "Male", "--profile", "slow", "--run-id", "bad-3" }, "unknown profile 'slow'")]
    [InlineData(new[] { "submit", "traits", "--traits", "Male", "--run-id", "bad id!" }, "run id 'bad id!' is not allowed")]
    [InlineData(new[] { "submit", "traits", "--run-id", "bad-4" }, "give either --all or --traits")]
    [InlineData(new[] { "submit", "traits", "--all", "--device", "tpu", "--run-id", "bad-5" }, "device 'tpu' is not allowed: expected any, cpu or cuda")]
    [InlineData(new[] { "submit", "vae", "--set", "beta=-1", "--run-id", "bad-6" }, "beta='-1' is not allowed")]
    [InlineData(new[] { "status", "no-such-run" }, "unknown run or job 'no-such-run'")]
    [InlineData(new[] { "jobs", "no-such-run" }, "unknown run 'no-such-run'")]
    [InlineData(new[] { "results", "no-such-run" }, "unknown run 'no-such-run'")]
    [InlineData(new[] { "watch", "no-such-run" }, "unknown run 'no-such-run'")]
    [InlineData(new[] { "cancel", "no-such-run" }, "unknown run or job 'no-such-run'")]
    [InlineData(new[] { "retry", "no-such-job" }, "unknown job 'no-such-job'")]
    [InlineData(new[] { "metrics", "no-such-job" }, "unknown job 'no-such-job'")]
    [InlineData(new[] { "logs", "no-such-job" }, "unknown job 'no-such-job'")]
    [InlineData(new[] { "logs", "some.job", "--attempt", "0" }, "--attempt 0 is not allowed")]
    [InlineData(new[] { "predict", "traits", "--punk", "1" }, "give either --run RUN or --alias ALIAS")]
    [InlineData(new[] { "predict", "traits", "--run", "r", "--alias", "production", "--punk", "1" }, "give either --run RUN or --alias ALIAS")]
    [InlineData(new[] { "predict", "traits", "--alias", "no-such-alias", "--punk", "1" }, "no trait model has a version with alias 'no-such-alias'")]
    [InlineData(new[] { "models", "register", "--run", "no-such-run" }, "unknown run 'no-such-run'")]
    [InlineData(new[] { "models", "alias", "trait/Nothing", "production", "1" }, "unknown model 'trait/Nothing'")]
    [InlineData(new[] { "models", "alias", "vae", "bad alias!", "1" }, "alias 'bad alias!' is not allowed")]
    [InlineData(new[] { "models", "show", "trait/Nothing" }, "unknown model 'trait/Nothing'")]
    [InlineData(new[] { "submit", "traits", "--traits", "Male", "--promote-if-better", "9prod", "--run-id", "bad-7" }, "promote-if-better alias '9prod' is not allowed")]
    [InlineData(new[] { "gc", "--older-than", "soon" }, "--older-than 'soon' is not allowed: a positive age such as 90s, 45m, 12h, 30d or 2w")]
    [InlineData(new[] { "gc", "--older-than", "0d" }, "--older-than '0d' is not allowed")]
    [InlineData(new[] { "artifacts", "no-such-job" }, "unknown job 'no-such-job'")]
    [InlineData(new[] { "generate", "vae", "--run", "no-such-run", "--out", "/tmp/x.png" }, "unknown run 'no-such-run'")]
    [InlineData(new[] { "generate", "gan", "--run", "no-such-run", "--count", "0", "--out", "/tmp/x.png" }, "count 0 is not allowed: 1..256")]
    [InlineData(new[] { "predict", "traits", "--run", "no-such-run", "--punk", "1" }, "unknown run 'no-such-run'")]
    [InlineData(new[] { "predict", "traits", "--run", "no-such-run" }, "give either --punk ID or --image FILE")]
    public async Task Bad_input_and_unknown_ids_get_a_clear_error_and_exit_code_2_and_store_nothing(string[] args, string expected)
    {
        var runs = await cluster.CountAsync("select count(*) from runs where run_id <> @id", "");
        var (exit, _, stderr) = await cluster.Cli(args);
        Assert.Equal(PunkGridCommandLine.BadInput, exit);
        Assert.Contains(expected, stderr);
        Assert.Equal(runs, await cluster.CountAsync("select count(*) from runs where run_id <> @id", ""));
    }

    [Fact]
    public async Task An_unreachable_cluster_is_named_with_exit_code_3()
    {
        var stderr = new StringWriter();
        var exit = await PunkGridCommandLine.RunAsync(["runs", "--gateway", $"127.0.0.1:{SiloProcess.FreePort()}"], new StringWriter(), stderr);
        Assert.Equal(PunkGridCommandLine.Unreachable, exit);
        Assert.Contains("no PunkGrid silo reachable", stderr.ToString());
    }

    /// <summary>Mutual TLS: a client with no certificate, or with another cluster's, fails the handshake before any grain call.</summary>
    [Fact]
    public async Task A_client_without_the_clusters_certificates_cannot_call_any_grain()
    {
        var plain = new StringWriter();
        Assert.Equal(PunkGridCommandLine.Unreachable, await PunkGridCommandLine.RunAsync(["runs", "--gateway", cluster.Gateways], new StringWriter(), plain));
        Assert.Contains("take TLS clients only", plain.ToString());

        var foreign = new StringWriter();
        Assert.Equal(PunkGridCommandLine.Unreachable,
            await PunkGridCommandLine.RunAsync(["runs", "--gateway", cluster.Gateways, "--tls-dir", TestCertificates.CreateForeign()], new StringWriter(), foreign));
        Assert.Contains("no PunkGrid silo answered", foreign.ToString());

        Assert.Equal(0, (await cluster.Cli("runs")).Exit); // the cluster's own client certificate gets in
    }

    /// <summary>Retention from the CLI: a dry run says what would go; runs younger than the age are not touched.</summary>
    [Fact]
    public async Task Gc_collects_only_runs_older_than_asked_and_a_dry_run_removes_nothing()
    {
        var dry = await cluster.Cli("gc", "--older-than", "1s", "--dry-run", "--json");
        Assert.True(dry.Exit == 0, dry.Error);
        var report = System.Text.Json.JsonDocument.Parse(dry.Out).RootElement;
        Assert.True(report.GetProperty("dry_run").GetBoolean());
        var checkpoints = await cluster.CountAsync("select count(*) from checkpoints where job_id <> @id", "");
        Assert.Equal(checkpoints, await cluster.CountAsync("select count(*) from checkpoints where job_id <> @id", "")); // nothing removed

        var none = await cluster.Cli("gc", "--older-than", "3650d");
        Assert.True(none.Exit == 0, none.Error);
        Assert.Contains("0 run(s) ended before", none.Out);
        Assert.Contains("removed 0 log line(s), 0 metric point(s) between epoch ends, 0 checkpoint(s)", none.Out);
    }

    /// <summary>
    /// A healthy cluster's logs are for real trouble: the CLI finds its gateways with a whole TLS handshake, so commands
    /// leave no "Authentication failed" warning (with its stack) in the silos they probe — a bare TCP probe did.
    /// </summary>
    [Fact]
    public async Task Cli_commands_leave_no_handshake_warnings_in_the_silos_logs()
    {
        var before = cluster.Silos.Where(s => !s.HasExited).ToDictionary(s => s, s => new FileInfo(s.LogPath).Length);
        for (var i = 0; i < 3; i++)
        {
            var runs = await cluster.Cli("runs");
            Assert.True(runs.Exit == 0, runs.Error);
        }
        await Task.Delay(TimeSpan.FromSeconds(2));
        foreach (var (silo, length) in before)
        {
            await using var file = new FileStream(silo.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            file.Seek(length, SeekOrigin.Begin);
            var added = await new StreamReader(file).ReadToEndAsync();
            Assert.True(!added.Contains("TlsServerConnectionMiddleware", StringComparison.Ordinal), added);
            Assert.DoesNotContain("Authentication failed", added);
        }
    }

    /// <summary>Even a client of the cluster reaches only the operator surface: a silo's internal interfaces (reminder ticks) are refused.</summary>
    [Fact]
    public async Task A_client_cannot_call_a_grains_internal_interface()
    {
        await using var connection = await ClusterConnection.ConnectAsync(cluster.Gateways,
            new CliSettings(null, TestCertificates.Directory, null, "punkgrid", "punkgrid", []), CancellationToken.None);
        var schedule = connection.Client.GetGrain<IScheduleGrain>("forged-tick");
        var reminder = connection.Client.GetGrain<IRemindable>(schedule.GetGrainId());
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => reminder.ReceiveReminder("fire", default));
        Assert.Contains("internal to the cluster and cannot be called by a client", refused.Message);
        Assert.Null(await schedule.Get()); // and operator calls still work
    }
}
