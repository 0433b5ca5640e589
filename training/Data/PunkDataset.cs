using System.Collections.Concurrent;
using static TorchSharp.torch;

namespace PunkGrid.Training.Data;

/// <summary>
/// The CryptoPunks dataset of one data folder: the trait table and the RGBA tiles. Loaded once per process and
/// folder (a sweep's jobs share it); read-only after loading, so it may be used from several threads.
/// </summary>
public sealed class PunkDataset
{
    private static readonly ConcurrentDictionary<string, Lazy<PunkDataset>> Cache = new(StringComparer.Ordinal);

    private PunkDataset(string directory, PunkTraitTable traits, Tensor tiles)
    {
        Directory = directory;
        Traits = traits;
        Tiles = tiles;
    }

    /// <summary>The data folder (holding <c>cryptopunks/</c>).</summary>
    public string Directory { get; }

    public PunkTraitTable Traits { get; }

    /// <summary>uint8 <c>[10000, 24, 24, 4]</c> RGBA, indexed by punk id.</summary>
    public Tensor Tiles { get; }

    private readonly ConcurrentDictionary<PunkColorMode, Lazy<Tensor>> modelInputs = new();

    /// <summary>
    /// All 10,000 punks as model inputs in <paramref name="mode"/> (<see cref="PunkImageTensors.ToModelInput"/>), made once
    /// per process and mode and shared, read-only, by every job: callers index into it and must not dispose it.
    /// </summary>
    public Tensor ModelInputs(PunkColorMode mode) => modelInputs.GetOrAdd(mode, m => new Lazy<Tensor>(() =>
        PunkImageTensors.ToModelInput(Tiles, m).DetachFromDisposeScope())).Value;

    public static PunkDataset Load(string dataDirectory)
    {
        var key = Path.GetFullPath(dataDirectory);
        var lazy = Cache.GetOrAdd(key, k => new Lazy<PunkDataset>(() => LoadUncached(k)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            Cache.TryRemove(new KeyValuePair<string, Lazy<PunkDataset>>(key, lazy));
            throw;
        }
    }

    private static PunkDataset LoadUncached(string directory)
    {
        var traits = PunkTraitTable.Load(DataDirectory.ClassicTraitsPath(directory));
        // Shared by every job of the process: never part of the caller's dispose scope, wherever the first load happens.
        var tiles = PunkSheet.LoadTiles(DataDirectory.PunkSheetPath(directory)).DetachFromDisposeScope();
        return new PunkDataset(directory, traits, tiles);
    }
}
