using System.Text.Json;
using PunkGrid.Training.Checkpoints;

namespace PunkGrid.Silo.Tests;

/// <summary>`silo train` and `silo data fetch` as a user runs them, through the real command line and the real data.</summary>
[Collection(SiloCommandLineCollection.Name)]
public class TrainVerbTests
{
    private static string NewDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "punkgrid-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    private static async Task<(int Exit, string Out, string Error)> Silo(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await SiloCommandLine.RunAsync(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Train_trait_json_prints_the_held_out_evaluation_and_stores_the_run()
    {
        var output = NewDirectory();
        var (exit, stdout, stderr) = await Silo("train", "trait", "hoodie", "--profile", "quick", "--train-samples", "200", "--json", "--out", output);

        Assert.True(exit == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal("Hoodie", root.GetProperty("trait").GetString());
        foreach (var key in new[] { "accuracy", "precision", "recall", "f1", "seconds" })
        {
            Assert.InRange(root.GetProperty(key).GetDouble(), 0, 1e6);
        }
        Assert.Equal(200, root.GetProperty("train_samples").GetInt32());
        Assert.Equal(1, root.GetProperty("epochs").GetInt32());
        Assert.InRange(root.GetProperty("test_count").GetInt32(), 1990, 2010);
        Assert.True(File.Exists(Path.Combine(output, "artifacts", "eval.json")));
        Assert.True(File.Exists(Path.Combine(output, "artifacts", "model.bin")));
        Assert.True(File.Exists(Path.Combine(output, "checkpoints", "epoch-0001.ckpt")));
        Assert.StartsWith("epoch,step,name,value", File.ReadAllText(Path.Combine(output, "metrics.csv")));
    }

    [Fact]
    public async Task Resume_continues_from_the_latest_valid_checkpoint_and_skips_a_corrupt_one()
    {
        var output = NewDirectory();
        string[] common = ["train", "trait", "Earring", "--train-samples", "100", "--batch-size", "50", "--json", "--out", output];
        Assert.Equal(0, (await Silo([.. common, "--epochs", "1"])).Exit);
        Assert.Equal(0, (await Silo([.. common, "--epochs", "2", "--resume"])).Exit);
        var checkpoints = Path.Combine(output, "checkpoints");
        Assert.Equal(["epoch-0001.ckpt", "epoch-0002.ckpt"], Directory.GetFiles(checkpoints).Select(Path.GetFileName).Order());

        // Corrupt the newest: the next resume falls back to epoch 1 and leaves the bad file for inspection.
        var newest = Path.Combine(checkpoints, "epoch-0002.ckpt");
        var bytes = File.ReadAllBytes(newest);
        bytes[100] ^= 0xFF;
        File.WriteAllBytes(newest, bytes);
        var (exit, stdout, _) = await Silo([.. common, "--epochs", "2", "--resume"]);
        Assert.Equal(0, exit);
        Assert.Equal(2, JsonDocument.Parse(stdout).RootElement.GetProperty("epochs").GetInt32());
        var metrics = File.ReadAllLines(Path.Combine(output, "metrics.csv")).Skip(1).Select(l => l.Split(',')).Where(f => f[2] == "train_loss").ToList();
        Assert.Equal([1, 2, 3, 4, 3, 4], metrics.Select(f => int.Parse(f[1]))); // epoch 2 trained twice: once per resume
        Assert.Equal(2, CheckpointCodec.Decode(File.ReadAllBytes(newest)).Epoch); // rewritten by the last run
    }

    [Theory]
    [InlineData(new[] { "train", "trait", "Unicorn" }, "unknown trait 'Unicorn'")]
    [InlineData(new[] { "train", "trait", "Male", "--color", "purple" }, "color='purple' is not allowed: expected one of gray, rgb")]
    [InlineData(new[] { "train", "trait", "Male", "--profile", "slow" }, "unknown profile 'slow'; allowed: seed, quick")]
    [InlineData(new[] { "train", "trait", "Male", "--epochs", "0" }, "epochs='0' is not allowed")]
    [InlineData(new[] { "train", "trait", "Male", "--set", "momentum=0.9" }, "unknown trait parameter(s): momentum")]
    [InlineData(new[] { "train", "trait", "Male", "--set", "nonsense" }, "--set 'nonsense' is not key=value")]
    [InlineData(new[] { "train", "trait", "Male", "--device", "tpu" }, "unknown device 'tpu'")]
    [InlineData(new[] { "train", "trait", "Male", "--data", "/nonexistent" }, "trait table not found: /nonexistent/cryptopunks/cryptopunks-classic.csv")]
    [InlineData(new[] { "train", "vae", "--set", "beta=-1" }, "vae parameter beta='-1' is not allowed")]
    [InlineData(new[] { "train", "vae", "--profile", "slow" }, "unknown profile 'slow'; allowed: seed, quick")]
    [InlineData(new[] { "train", "gan", "--set", "conditional=maybe" }, "gan parameter conditional='maybe' is not allowed")]
    [InlineData(new[] { "data", "fetch", "--dataset", "mnist" }, "unknown dataset 'mnist'; allowed: cryptopunks")]
    public async Task Bad_input_gets_a_clear_error_and_exit_code_2(string[] args, string expected)
    {
        var output = NewDirectory();
        var (exit, stdout, stderr) = await Silo([.. args, .. args[0] == "train" ? new[] { "--out", output } : []]);
        Assert.Equal(SiloCommandLine.BadInput, exit);
        Assert.Contains(expected, stderr);
        Assert.Empty(stdout);
        Assert.Empty(Directory.GetFiles(output, "*", SearchOption.AllDirectories)); // nothing half-written
    }
}
