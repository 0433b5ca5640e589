namespace PunkGrid.Training.Data;

/// <summary>
/// The deterministic train/test split of the 10,000 punks. Stratified by type, so every type has punks in both
/// halves, and within a type by each punk's rarest accessory, so rare accessories are spread over both halves too.
/// The same seed always gives the same split; evaluation is always on <see cref="Test"/>.
/// </summary>
public sealed class PunkSplit
{
    public const double DefaultTestFraction = 0.2;

    private PunkSplit(int seed, int[] train, int[] test)
    {
        Seed = seed;
        Train = train;
        Test = test;
    }

    public int Seed { get; }

    /// <summary>Punk ids of the training half, ascending.</summary>
    public IReadOnlyList<int> Train { get; }

    /// <summary>Punk ids of the held-out half, ascending.</summary>
    public IReadOnlyList<int> Test { get; }

    public static PunkSplit Create(PunkTraitTable traits, int seed, double testFraction = DefaultTestFraction)
    {
        if (testFraction is <= 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "the test fraction must be in (0, 1)");
        }
        var random = new Random(seed);
        var traitCounts = Enumerable.Range(0, PunkTraitTable.TraitCount).Select(traits.CountOf).ToArray();
        int RarestAccessory(int punk)
        {
            var rarest = -1;
            for (var t = PunkTraitTable.TypeNames.Count; t < PunkTraitTable.TraitCount; t++)
            {
                if (traits.Has(punk, t) && (rarest < 0 || traitCounts[t] < traitCounts[rarest]))
                {
                    rarest = t;
                }
            }
            return rarest;
        }

        var test = new List<int>();
        var train = new List<int>();
        for (var type = 0; type < PunkTraitTable.TypeNames.Count; type++)
        {
            // Members of the type, grouped by rarest accessory (rarest groups first), shuffled within each group.
            var ordered = Enumerable.Range(0, PunkTraitTable.PunkCount)
                .Where(p => traits.TypeOfPunk[p] == type)
                .GroupBy(RarestAccessory)
                .OrderBy(g => g.Key < 0 ? int.MaxValue : traitCounts[g.Key]).ThenBy(g => g.Key)
                .SelectMany(g => Shuffle(g.ToArray(), random))
                .ToArray();

            // Systematic sampling with a random phase: every 1/fraction-th member goes to test.
            var n = ordered.Length;
            var k = n < 2 ? 0 : Math.Clamp((int)Math.Round(n * testFraction), 1, n - 1);
            var phase = random.NextDouble();
            var chosen = new bool[n];
            for (var i = 0; i < k; i++)
            {
                chosen[(int)Math.Floor((i + phase) * n / k)] = true;
            }
            for (var i = 0; i < n; i++)
            {
                (chosen[i] ? test : train).Add(ordered[i]);
            }
        }
        train.Sort();
        test.Sort();
        return new PunkSplit(seed, [.. train], [.. test]);
    }

    private static int[] Shuffle(int[] items, Random random)
    {
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
        return items;
    }
}
