using PunkGrid.Training.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Checkpoints;

/// <summary>Moves module weights, optimizer state and generator state to and from checkpoint bytes.</summary>
public static class TorchState
{
    public static byte[] Save(nn.Module module)
    {
        using var stream = new MemoryStream();
        module.save(stream);
        return stream.ToArray();
    }

    /// <summary>Loads weights saved by <see cref="Save(nn.Module)"/>; a mismatch in names or shapes is a <see cref="CheckpointFormatException"/>.</summary>
    public static void Load(nn.Module module, byte[] bytes, string what = "model")
    {
        try
        {
            using var stream = new MemoryStream(bytes);
            module.load(stream, strict: true);
        }
        catch (Exception ex) when (ex is not CheckpointFormatException)
        {
            throw new CheckpointFormatException($"the checkpoint's {what} weights do not fit {module.GetName()}: {ex.Message}", ex);
        }
    }

    public static byte[] Save(TorchSharp.Modules.OptimizerHelper optimizer)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            optimizer.save_state_dict(writer);
        }
        return stream.ToArray();
    }

    public static void Load(TorchSharp.Modules.OptimizerHelper optimizer, byte[] bytes)
    {
        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes));
            optimizer.load_state_dict(reader);
        }
        catch (Exception ex) when (ex is not CheckpointFormatException)
        {
            throw new CheckpointFormatException($"the checkpoint's optimizer state does not fit this optimizer: {ex.Message}", ex);
        }
    }

    /// <summary>The standard sections of a one-model job's checkpoint: weights, optimizer state, RNG state.</summary>
    public static Dictionary<string, byte[]> Sections(nn.Module model, TorchSharp.Modules.OptimizerHelper optimizer, Generator rng) => new()
    {
        [TrainingCheckpoint.ModelSection] = Save(model),
        [TrainingCheckpoint.OptimizerSection] = Save(optimizer),
        [TrainingCheckpoint.RngSection] = Save(rng),
    };

    /// <summary>
    /// Checks a one-model job's checkpoint belongs to this job, loads its weights, optimizer and RNG state, and returns
    /// where training stood (completed epochs, global step).
    /// </summary>
    public static (int Epoch, long Step) Restore(TrainingCheckpoint checkpoint, string kind, IReadOnlyDictionary<string, string> identity,
        nn.Module model, TorchSharp.Modules.OptimizerHelper optimizer, Generator rng)
    {
        CheckpointCodec.RequireCompatible(checkpoint, kind, identity);
        Load(model, checkpoint.Section(TrainingCheckpoint.ModelSection));
        Load(optimizer, checkpoint.Section(TrainingCheckpoint.OptimizerSection));
        Load(rng, checkpoint.Section(TrainingCheckpoint.RngSection));
        return (checkpoint.Epoch, checkpoint.Step);
    }

    public static byte[] Save(Generator generator)
    {
        using var state = generator.get_state();
        return state.data<byte>().ToArray();
    }

    public static void Load(Generator generator, byte[] bytes)
    {
        TorchRuntime.EnsureInitialized();
        try
        {
            using var state = tensor(bytes, ScalarType.Byte);
            generator.set_state(state);
        }
        catch (Exception ex) when (ex is not CheckpointFormatException)
        {
            throw new CheckpointFormatException($"the checkpoint's RNG state is not a valid generator state ({bytes.Length} bytes): {ex.Message}", ex);
        }
    }
}
