using System.Globalization;

namespace PunkGrid.Training.Data;

/// <summary>
/// The 92 binary traits of the 10,000 punks, parsed from <c>cryptopunks-classic.csv</c>
/// (<c>id, type, count, accessories</c>, accessories separated by <c> / </c>).
/// Trait order: the 5 types (Male, Female, Zombie, Ape, Alien), then the 87 accessories in ordinal name order.
/// </summary>
public sealed class PunkTraitTable
{
    public const int PunkCount = 10_000;
    public const int TraitCount = 92;

    public static IReadOnlyList<string> TypeNames { get; } = ["Male", "Female", "Zombie", "Ape", "Alien"];

    private readonly bool[] labels; // [punk * TraitCount + trait]
    private readonly Dictionary<string, int> indexByKey;

    private PunkTraitTable(IReadOnlyList<string> traitNames, int[] typeOfPunk, bool[] labels)
    {
        TraitNames = traitNames;
        TypeOfPunk = typeOfPunk;
        this.labels = labels;
        indexByKey = traitNames.Select((n, i) => (Key: Normalize(n), Index: i)).ToDictionary(x => x.Key, x => x.Index);
    }

    /// <summary>All 92 trait names, types first.</summary>
    public IReadOnlyList<string> TraitNames { get; }

    public IReadOnlyList<string> AccessoryNames => TraitNames.Skip(TypeNames.Count).ToList();

    /// <summary>Index into <see cref="TypeNames"/> for each punk id.</summary>
    public IReadOnlyList<int> TypeOfPunk { get; }

    public bool Has(int punkId, int trait) => labels[(punkId * TraitCount) + trait];

    /// <summary>Positive/negative label of <paramref name="trait"/> for every punk, indexed by punk id.</summary>
    public bool[] LabelsOf(int trait)
    {
        var result = new bool[PunkCount];
        for (var punk = 0; punk < PunkCount; punk++)
        {
            result[punk] = labels[(punk * TraitCount) + trait];
        }
        return result;
    }

    public int CountOf(int trait) => LabelsOf(trait).Count(x => x);

    public int CountOf(string trait) => CountOf(IndexOf(trait));

    /// <summary>The names of the traits a punk has, types first.</summary>
    public IReadOnlyList<string> TraitsOf(int punkId) =>
        Enumerable.Range(0, TraitCount).Where(t => Has(punkId, t)).Select(t => TraitNames[t]).ToList();

    /// <summary>
    /// Finds a trait by name, ignoring case and treating spaces, hyphens and underscores alike
    /// (<c>big-shades</c> is <c>Big Shades</c>). Throws <see cref="UnknownTraitException"/> naming the allowed names.
    /// </summary>
    public int IndexOf(string name)
    {
        if (indexByKey.TryGetValue(Normalize(name), out var index))
        {
            return index;
        }
        var key = Normalize(name);
        var close = TraitNames
            .Where(n => Normalize(n).Contains(key, StringComparison.Ordinal) || key.Contains(Normalize(n), StringComparison.Ordinal))
            .Take(5)
            .ToList();
        var hint = close.Count > 0 ? $" Did you mean: {string.Join(", ", close)}?" : "";
        throw new UnknownTraitException(name,
            $"unknown trait '{name}'.{hint} Allowed (92): {string.Join(", ", TraitNames)}");
    }

    /// <summary>The canonical spelling of a trait name.</summary>
    public string CanonicalName(string name) => TraitNames[IndexOf(name)];

    public static PunkTraitTable Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new DataFormatException(
                $"trait table not found: {path} (expected cryptopunks-classic.csv; set {DataDirectory.EnvironmentVariable} or run `data fetch`)");
        }
        using var reader = new StreamReader(path);
        return Parse(reader, path);
    }

    public static PunkTraitTable Parse(TextReader reader, string source)
    {
        var header = reader.ReadLine();
        var expectedHeader = new[] { "id", "type", "count", "accessories" };
        if (header is null || !header.Split(',').Select(h => h.Trim()).SequenceEqual(expectedHeader))
        {
            throw new DataFormatException($"{source}:1: expected the header 'id, type, count, accessories', found '{header}'");
        }

        var typeOfPunk = Enumerable.Repeat(-1, PunkCount).ToArray();
        var accessoriesOfPunk = new string[PunkCount][];
        var lineNumber = 1;
        var rows = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.Trim().Length == 0)
            {
                continue;
            }
            var fields = line.Split(',', 4);
            if (fields.Length != 4)
            {
                throw new DataFormatException($"{source}:{lineNumber}: expected 4 fields (id, type, count, accessories), found {fields.Length}: '{line}'");
            }
            if (!int.TryParse(fields[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id is < 0 or >= PunkCount)
            {
                throw new DataFormatException($"{source}:{lineNumber}: punk id '{fields[0].Trim()}' is not an integer in 0..{PunkCount - 1}");
            }
            if (typeOfPunk[id] >= 0)
            {
                throw new DataFormatException($"{source}:{lineNumber}: punk id {id} appears twice");
            }
            var type = fields[1].Trim();
            var typeIndex = TypeNames.ToList().IndexOf(type);
            if (typeIndex < 0)
            {
                throw new DataFormatException($"{source}:{lineNumber}: unknown punk type '{type}'; allowed: {string.Join(", ", TypeNames)}");
            }
            if (!int.TryParse(fields[2].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var count))
            {
                throw new DataFormatException($"{source}:{lineNumber}: accessory count '{fields[2].Trim()}' is not a non-negative integer");
            }
            var accessories = fields[3].Split('/', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (accessories.Length != count)
            {
                throw new DataFormatException(
                    $"{source}:{lineNumber}: punk {id} declares {count} accessories but lists {accessories.Length}: '{fields[3].Trim()}'");
            }
            if (accessories.Any(a => TypeNames.Contains(a)))
            {
                throw new DataFormatException($"{source}:{lineNumber}: accessory list of punk {id} names a type: '{fields[3].Trim()}'");
            }
            typeOfPunk[id] = typeIndex;
            accessoriesOfPunk[id] = accessories;
            rows++;
        }

        if (rows != PunkCount)
        {
            var missing = Enumerable.Range(0, PunkCount).Where(i => typeOfPunk[i] < 0).Take(5);
            throw new DataFormatException(
                $"{source}: expected {PunkCount} punks (ids 0..{PunkCount - 1}), found {rows}; missing e.g. {string.Join(", ", missing)}");
        }

        var accessoryNames = accessoriesOfPunk.SelectMany(a => a).Distinct().Order(StringComparer.Ordinal).ToList();
        if (TypeNames.Count + accessoryNames.Count != TraitCount)
        {
            throw new DataFormatException(
                $"{source}: expected {TraitCount - TypeNames.Count} distinct accessories (92 traits), found {accessoryNames.Count}");
        }
        var traitNames = TypeNames.Concat(accessoryNames).ToList();
        var accessoryIndex = accessoryNames.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => TypeNames.Count + x.i, StringComparer.Ordinal);
        var labels = new bool[PunkCount * TraitCount];
        for (var punk = 0; punk < PunkCount; punk++)
        {
            labels[(punk * TraitCount) + typeOfPunk[punk]] = true;
            foreach (var accessory in accessoriesOfPunk[punk])
            {
                labels[(punk * TraitCount) + accessoryIndex[accessory]] = true;
            }
        }
        return new PunkTraitTable(traitNames, typeOfPunk, labels);
    }

    private static string Normalize(string name) =>
        string.Concat(name.Trim().ToLowerInvariant().Select(c => c is '-' or '_' ? ' ' : c)).Replace("  ", " ", StringComparison.Ordinal);
}
