using Microsoft.Extensions.Options;
using PunkGrid.Training.Data;

namespace PunkGrid.Server.Grains;

/// <summary>The 92 trait names, read once from the data folder's trait table (no tensors involved).</summary>
public sealed class TraitCatalog(IOptions<WorkerOptions> options)
{
    private readonly Lazy<PunkTraitTable> table = new(() =>
        PunkTraitTable.Load(DataDirectory.ClassicTraitsPath(DataDirectory.Resolve(options.Value.DataDirectory))));

    public IReadOnlyList<string> TraitNames => table.Value.TraitNames;

    /// <summary>The canonical name; throws <see cref="UnknownTraitException"/> naming the allowed ones.</summary>
    public string Canonical(string name) => table.Value.CanonicalName(name);
}
