# syntax=docker/dockerfile:1
# The PunkGrid silo (scheduler, worker, dashboard). Build from the repository root:
#   docker build -f infra/docker/silo.Dockerfile -t punkgrid-silo .
# A GPU image: docker build -f infra/docker/silo.Dockerfile --build-arg TORCH_BACKEND=cuda -t punkgrid-silo:cuda .
# (needs TorchSharp-cuda-linux from nuget.org and a CUDA base such as nvidia/cuda:12.8.0-runtime-ubuntu24.04 with the
# .NET runtime added; run with --gpus all).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TORCH_BACKEND=cpu
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props PunkGrid.sln ./
COPY contracts/ contracts/
COPY training/ training/
COPY clustering/ clustering/
COPY server/ server/
COPY silo/ silo/
RUN dotnet publish silo/PunkGrid.Silo.csproj -c Release -o /app -p:TorchBackend=${TORCH_BACKEND} --nologo

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# libgomp: libtorch's OpenMP runtime.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
# Datasets are mounted at /data (never baked in); `data fetch` fills an empty volume.
# The dashboard listens on every interface, so the silo refuses to start without PUNKGRID__Dashboard__Token.
ENV PUNKGRID_DATA=/data \
    PUNKGRID__ListenOnAnyAddress=true \
    PUNKGRID__Dashboard__Urls=http://0.0.0.0:8080
EXPOSE 11111 30000 8080
# Other silos reach this one at the container's own address unless PUNKGRID__AdvertisedAddress says otherwise.
ENTRYPOINT ["/bin/sh", "-c", "export PUNKGRID__AdvertisedAddress=\"${PUNKGRID__AdvertisedAddress:-$(hostname -i | cut -d' ' -f1)}\"; exec dotnet PunkGrid.Silo.dll \"$@\"", "--"]
CMD ["serve"]
