using System.Security.Cryptography;
using PunkGrid.Training.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Tests;

public class TorchRuntimeTests
{
    public TorchRuntimeTests() => TorchRuntime.EnsureInitialized();

    private static string Original => TorchRuntime.FindNativeLibrary() ?? throw new InvalidOperationException("libLibTorchSharp.so not found");

    [Fact]
    public void TorchSharps_library_needs_the_version_that_Debian_12_lacks()
    {
        var needs = ElfVersionNeedPatcher.ReadVersionNeeds(File.ReadAllBytes(Original));
        var need = Assert.Single(needs, n => n.Version == TorchRuntime.MissingVersion);
        Assert.Equal("libstdc++.so.6", need.File);
        Assert.Equal(0, need.Flags & ElfVersionNeedPatcher.VerFlagWeak);
        Assert.Contains(needs, n => n.Version == "GLIBC_2.2.5");
    }

    [Fact]
    public void Marking_weak_changes_only_that_need_and_is_idempotent()
    {
        var original = File.ReadAllBytes(Original);
        var patched = (byte[])original.Clone();
        Assert.Equal(1, ElfVersionNeedPatcher.MarkWeak(patched, TorchRuntime.MissingVersion));
        Assert.Equal(0, ElfVersionNeedPatcher.MarkWeak(patched, TorchRuntime.MissingVersion));

        var differing = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToList();
        var need = ElfVersionNeedPatcher.ReadVersionNeeds(patched).Single(n => n.Version == TorchRuntime.MissingVersion);
        Assert.Equal([need.FlagsOffset], differing); // one byte of vna_flags: 0 → VER_FLG_WEAK
        Assert.Equal(ElfVersionNeedPatcher.VerFlagWeak, need.Flags);
        Assert.All(ElfVersionNeedPatcher.ReadVersionNeeds(patched).Where(n => n.Version != TorchRuntime.MissingVersion),
            n => Assert.Equal(0, n.Flags & ElfVersionNeedPatcher.VerFlagWeak));
    }

    [Fact]
    public void The_patched_copy_goes_to_the_cache_and_the_original_is_untouched()
    {
        var before = SHA256.HashData(File.ReadAllBytes(Original));
        var cache = TestData.NewTemporaryDirectory();
        var copy = TorchRuntime.PreparePatchedCopy(Original, cache);
        Assert.StartsWith(cache, copy);
        Assert.Equal(copy, TorchRuntime.PreparePatchedCopy(Original, cache));
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(Original)));
        var need = ElfVersionNeedPatcher.ReadVersionNeeds(File.ReadAllBytes(copy)).Single(n => n.Version == TorchRuntime.MissingVersion);
        Assert.Equal(ElfVersionNeedPatcher.VerFlagWeak, need.Flags & ElfVersionNeedPatcher.VerFlagWeak);
    }

    [Fact]
    public void The_fix_is_applied_only_when_the_system_lacks_the_version()
    {
        // A symbol TorchSharp really uses, at the version it asks for, is there on every system it runs on.
        Assert.True(TorchRuntime.SystemLibStdCxxExports("_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE", "GLIBCXX_3.4.30"));
        Assert.False(TorchRuntime.SystemLibStdCxxHas("GLIBCXX_99.0"));
        var needed = !TorchRuntime.SystemLibStdCxxHas(TorchRuntime.MissingVersion);
        Assert.Equal(needed, TorchRuntime.PatchedLibraryPath is not null);
        using var x = ones(3);
        Assert.Equal(3f, x.sum().item<float>()); // and TorchSharp works either way
    }

    [Fact]
    public void Something_that_is_not_elf_is_refused()
    {
        Assert.Throws<InvalidDataException>(() => ElfVersionNeedPatcher.ReadVersionNeeds(new byte[128]));
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("CPU")]
    [InlineData("auto")]
    [InlineData(null)]
    public void Devices_resolve_to_cpu_unless_auto_finds_cuda(string? requested)
    {
        var auto = requested is null or "auto";
        var expected = auto && cuda.is_available() ? DeviceType.CUDA : DeviceType.CPU;
        Assert.Equal(expected, TorchRuntime.ResolveDevice(requested).type);
    }

    [Fact]
    public void Unknown_or_unavailable_devices_name_what_is_allowed()
    {
        Assert.Contains("unknown device 'tpu'; allowed: auto, cpu, cuda, cuda:N",
            Assert.Throws<ArgumentException>(() => TorchRuntime.ResolveDevice("tpu")).Message);
        if (!cuda.is_available())
        {
            Assert.Contains("CUDA is not available", Assert.Throws<ArgumentException>(() => TorchRuntime.ResolveDevice("cuda:0")).Message);
        }
    }
}
