using System.Text;
using PunkGrid.Training.Native;

namespace PunkGrid.Training.Tests;

public class NativeMemoryTuningTests
{
    private static readonly string All = string.Join(':', NativeMemoryTuning.Tunables.Select(t => $"{t.Key}={t.Value}"));

    private static Func<string, string?> Environment(params (string Key, string Value)[] values) =>
        key => values.FirstOrDefault(v => v.Key == key).Value;

    [Fact]
    public void Without_tunables_the_process_executes_again_with_all_of_them()
    {
        var decision = NativeMemoryTuning.Decide(Environment(), linuxWithGlibc: true);
        Assert.Equal(All, decision.Tunables);
        Assert.Contains("tuned", decision.Status, StringComparison.Ordinal);
        Assert.Contains("glibc.malloc.arena_max=1", All, StringComparison.Ordinal);
        Assert.Contains("glibc.malloc.mmap_max=0", All, StringComparison.Ordinal);
    }

    [Fact]
    public void Once_tuned_it_does_not_execute_again()
    {
        // The second start, after the first executed itself again, sees its own tunables: no loop.
        var decision = NativeMemoryTuning.Decide(Environment(("GLIBC_TUNABLES", All)), linuxWithGlibc: true);
        Assert.Null(decision.Tunables);
        Assert.Equal($"glibc malloc tuned for libtorch (GLIBC_TUNABLES={All})", decision.Status);
        Assert.True(NativeMemoryTuning.IsTuned(All));
    }

    [Fact]
    public void Tunables_the_caller_set_are_kept_and_the_missing_ones_appended()
    {
        var merged = NativeMemoryTuning.Merge("glibc.malloc.arena_max=4:glibc.rtld.optional_static_tls=2048:");
        Assert.NotNull(merged);
        Assert.StartsWith("glibc.malloc.arena_max=4:glibc.rtld.optional_static_tls=2048:glibc.malloc.mmap_max=0:", merged, StringComparison.Ordinal);
        Assert.Single(merged.Split(':'), pair => pair.StartsWith("glibc.malloc.arena_max=", StringComparison.Ordinal));
        Assert.Equal(NativeMemoryTuning.Tunables.Count + 1, merged.Split(':').Length);
        Assert.Null(NativeMemoryTuning.Merge(merged));
    }

    [Theory]
    [InlineData("off")]
    [InlineData("OFF")]
    [InlineData("0")]
    [InlineData("false")]
    public void The_switch_keeps_glibcs_defaults(string value)
    {
        var decision = NativeMemoryTuning.Decide(Environment(("PUNKGRID_MALLOC_TUNING", value)), linuxWithGlibc: true);
        Assert.Null(decision.Tunables);
        Assert.Equal($"glibc malloc at its defaults (PUNKGRID_MALLOC_TUNING={value})", decision.Status);
    }

    [Theory]
    [InlineData("")]
    [InlineData("on")]
    public void Other_switch_values_tune(string value) =>
        Assert.Equal(All, NativeMemoryTuning.Decide(Environment(("PUNKGRID_MALLOC_TUNING", value)), linuxWithGlibc: true).Tunables);

    [Fact]
    public void Other_systems_are_left_alone()
    {
        var decision = NativeMemoryTuning.Decide(Environment(), linuxWithGlibc: false);
        Assert.Null(decision.Tunables);
        Assert.Equal("malloc not tuned: not Linux with glibc", decision.Status);
    }

    [Fact]
    public void The_command_line_is_read_as_proc_holds_it_empty_arguments_included()
    {
        var bytes = Encoding.UTF8.GetBytes("dotnet\0PunkGrid.Silo.dll\0\0--name\0silo-é\0");
        Assert.Equal(["dotnet", "PunkGrid.Silo.dll", "", "--name", "silo-é"], NativeMemoryTuning.ParseCommandLine(bytes));
        Assert.Empty(NativeMemoryTuning.ParseCommandLine([]));
    }
}
