CREATE DATABASE lianjie_needs;
CREATE DATABASE lianjie_resources;
