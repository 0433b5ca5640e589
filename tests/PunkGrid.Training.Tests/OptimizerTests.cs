using System.Runtime.InteropServices;
using PunkGrid.Training.Native;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PunkGrid.Training.Tests;

/// <summary>
/// The optimizers every trainer uses: TorchSharp's Adam and Adagrad, bit for bit, without handing libtorch a scalar the
/// finalizer thread may free mid-call.
/// </summary>
public class OptimizerTests
{
    public OptimizerTests() => TorchRuntime.EnsureInitialized();

    public static TheoryData<string> Kinds => ["adam", "adam-weight-decay", "adam-groups", "adagrad"];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Updates_are_torchsharps_bit_for_bit_and_its_saved_state_loads(string kind)
    {
        var (stock, stockParameters) = Build(kind, safe: false);
        var (safe, safeParameters) = Build(kind, safe: true);
        for (var step = 0; step < 12; step++)
        {
            Step(stock, stockParameters, step);
            Step(safe, safeParameters, step);
        }

        for (var i = 0; i < stockParameters.Length; i++)
        {
            Assert.True(stockParameters[i].eq(safeParameters[i]).all().item<bool>(), $"{kind}: parameter {i} differs after 12 steps");
        }

        // Checkpoints hold the optimizer's state: one written by TorchSharp's optimizer resumes ours, and the other way round.
        var (resumed, resumedParameters) = Resume(stock, stockParameters, kind, safe: true);
        var (stockResumed, stockResumedParameters) = Resume(safe, safeParameters, kind, safe: false);
        Step(stock, stockParameters, 12);
        Step(resumed, resumedParameters, 12);
        Step(stockResumed, stockResumedParameters, 12);
        for (var i = 0; i < stockParameters.Length; i++)
        {
            Assert.True(stockParameters[i].eq(resumedParameters[i]).all().item<bool>(), $"{kind}: parameter {i} differs after resuming");
            Assert.True(stockParameters[i].eq(stockResumedParameters[i]).all().item<bool>(), $"{kind}: parameter {i} differs after TorchSharp's optimizer resumed ours");
        }
    }

    /// <summary>
    /// Steps over a large parameter while another thread keeps collecting garbage and running finalizers. TorchSharp's own
    /// Adam fails here now and then ("Expected false to be true … toFloat": the step size read from a freed scalar) or
    /// silently applies a wrong step; this one must give exactly the updates of a quiet run.
    /// </summary>
    [Fact]
    public void Collections_during_steps_change_nothing()
    {
        const int size = 2_000_000, steps = 60;
        var quiet = Train(size, steps, collect: false);
        var (busy, failures) = Train(size, steps, collect: true);
        Assert.Equal(0, failures);
        Assert.True(quiet.Weights.eq(busy).all().item<bool>(), "updates under collections differ from the quiet run's");
        quiet.Weights.Dispose();
        busy.Dispose();
    }

    private static (Tensor Weights, int Failures) Train(int size, int steps, bool collect)
    {
        using var generator = new Generator(7);
        var weights = nn.Parameter(randn(size, generator: generator));
        using var optimizer = new Optimizers.Adam([weights], 1e-3);
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                for (var i = 0; i < 100; i++)
                {
                    _ = ((double)i).ToScalar(); // finalizable garbage, as implicit conversions leave behind
                }

                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        if (collect)
        {
            collector.Start();
        }

        var failures = 0;
        try
        {
            for (var step = 0; step < steps; step++)
            {
                using var scope = NewDisposeScope();
                weights.grad = randn(size, generator: generator);
                try
                {
                    optimizer.step();
                }
                catch (ExternalException)
                {
                    failures++;
                }
            }
        }
        finally
        {
            stop.Cancel();
            if (collect)
            {
                collector.Join();
            }
        }

        return (weights.detach().clone(), failures);
    }

    /// <summary>A new optimizer of <paramref name="kind"/> (ours or TorchSharp's) with the weights and saved state of <paramref name="source"/>, as a checkpoint restores them.</summary>
    private static (OptimizerHelper Optimizer, Parameter[] Parameters) Resume(OptimizerHelper source, Parameter[] weights, string kind, bool safe)
    {
        using var saved = new MemoryStream();
        using (var writer = new BinaryWriter(saved, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            source.save_state_dict(writer);
        }

        var (optimizer, parameters) = Build(kind, safe);
        for (var i = 0; i < parameters.Length; i++)
        {
            using (no_grad())
            {
                parameters[i].copy_(weights[i]);
            }
        }

        saved.Position = 0;
        using (var reader = new BinaryReader(saved))
        {
            optimizer.load_state_dict(reader);
        }

        return (optimizer, parameters);
    }

    private static (OptimizerHelper Optimizer, Parameter[] Parameters) Build(string kind, bool safe)
    {
        using var generator = new Generator(3);
        var parameters = new[] { nn.Parameter(randn(64, 32, generator: generator)), nn.Parameter(randn(32, generator: generator)) };
        OptimizerHelper optimizer = (kind, safe) switch
        {
            ("adam", false) => optim.Adam(parameters, 0.01),
            ("adam", true) => new Optimizers.Adam(parameters, 0.01),
            ("adam-weight-decay", false) => optim.Adam(parameters, 0.003, 0.8, 0.99, 1e-6, 0.01),
            ("adam-weight-decay", true) => new Optimizers.Adam(parameters, 0.003, 0.8, 0.99, 1e-6, 0.01),
            ("adam-groups", false) => optim.Adam([new Adam.ParamGroup([parameters[0]], lr: 1e-4), new Adam.ParamGroup([parameters[1]], lr: 1e-2)], 0.01),
            ("adam-groups", true) => new Optimizers.Adam([new Optimizers.Adam.ParamGroup([parameters[0]], lr: 1e-4), new Adam.ParamGroup([parameters[1]], lr: 1e-2)], 0.01),
            ("adagrad", false) => optim.Adagrad(parameters, 0.05, 0.01, 0.001, 0.1, 1e-10),
            ("adagrad", true) => new Optimizers.Adagrad(parameters, 0.05, 0.01, 0.001, 0.1, 1e-10),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown optimizer"),
        };
        return (optimizer, parameters);
    }

    private static void Step(OptimizerHelper optimizer, Parameter[] parameters, int step)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)(100 + step));
        optimizer.zero_grad();
        var loss = parameters.Select(p => (p * randn(p.shape, generator: generator)).pow(2).sum()).Aggregate((a, b) => a + b);
        loss.backward();
        optimizer.step();
    }
}
